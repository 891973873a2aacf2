"""SQLAlchemy 1.4 (Debian python3-sqlalchemy) with psycopg2.

What SQLAlchemy shows:
- a failed Session.flush() makes SQLAlchemy roll the DB transaction back itself and refuse
  further use with PendingRollbackError (no server contact) -> the cause is in txguard_last_abort();
- a failed statement run through Session.execute(text(...)) or a Core connection inside
  begin() leaves the server transaction aborted; the next statement reaches the server and
  SQLAlchemy's InternalError carries the server's 25P02 with txguard's DETAIL.
"""
import sqlalchemy
import sqlalchemy.exc as sa_exc
from sqlalchemy import Column, Integer, String, create_engine, text
from sqlalchemy.orm import Session, declarative_base

from txg_common import (CORE_MSG, DUP, HINT, HOST, PORT, USER, DBNAME, expected_detail,
                        run)

TABLE = "txg_sa_item"
KEY = "Key (id)=(1) already exists."
TEXT_INSERT = "INSERT INTO %s (id, name) VALUES (1, 'dup')" % TABLE
Base = declarative_base()


class Item(Base):
    __tablename__ = TABLE
    id = Column(Integer, primary_key=True)
    name = Column(String(50))


def check_internal_error(c, label, err, annotated=True):
    print("[%s] SQLAlchemy shows: %s: %s" % (label, type(err).__name__ if err else None, err))
    if not c.true("[%s] next statement raised sqlalchemy.exc.InternalError" % label,
                  isinstance(err, sa_exc.InternalError), repr(err)):
        return
    c.eq("[%s] DBAPI error is 25P02" % label, getattr(err.orig, "pgcode", None), "25P02")
    c.eq("[%s] primary message is core's" % label, err.orig.diag.message_primary, CORE_MSG)
    if annotated:
        c.contains("[%s] str(e) names 23505, the duplicate key error and the INSERT" % label,
                   str(err), "23505", DUP, TEXT_INSERT)
        c.eq("[%s] DETAIL" % label, err.orig.diag.message_detail,
             expected_detail(2, TABLE + "_pkey", KEY, TEXT_INSERT))
        c.eq("[%s] HINT" % label, err.orig.diag.message_hint, HINT)
    else:
        c.eq("[%s] no DETAIL" % label, err.orig.diag.message_detail, None)
        c.lacks("[%s] str(e) has no cause" % label, str(err), "23505", DUP, TEXT_INSERT)


def session_text_path(engine):
    dup = err = None
    with Session(engine) as s:
        s.execute(text("SELECT count(*) FROM %s" % TABLE))                   # statement 1
        try:
            s.execute(text(TEXT_INSERT))                                     # statement 2
        except sa_exc.IntegrityError as e:
            dup = e
        try:
            s.connection().execute(text("SELECT name FROM %s" % TABLE))     # -> server 25P02
        except sa_exc.DBAPIError as e:
            err = e
        s.rollback()
    return dup, err


def core_path(engine, setup=None):
    dup = err = None
    with engine.connect() as conn:
        if setup:
            conn.execute(text(setup))
            conn.commit()
        with conn.begin():
            conn.execute(text("SELECT count(*) FROM %s" % TABLE))            # statement 1
            try:
                conn.execute(text(TEXT_INSERT))                              # statement 2
            except sa_exc.IntegrityError as e:
                dup = e
            try:
                conn.execute(text("SELECT name FROM %s" % TABLE))
            except sa_exc.DBAPIError as e:
                err = e
            conn.rollback()
    return dup, err


def body(c):
    print("SQLAlchemy", sqlalchemy.__version__)
    url = "postgresql+psycopg2://%s@%s:%d/%s" % (USER, HOST, PORT, DBNAME)
    engine = create_engine(url, future=True, poolclass=sqlalchemy.pool.NullPool)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Item(id=1, name="first"))
        s.commit()

    # --- 1. ORM flush error: SQLAlchemy refuses on its own, txguard still knows the cause
    pending = None
    with engine.connect() as conn:            # one backend for the session and the look-up
        s = Session(bind=conn)
        s.execute(text("SELECT count(*) FROM %s" % TABLE))                   # statement 1
        s.add(Item(id=1, name="dup"))
        try:
            s.flush()                                                        # statement 2
            c.fail("flush of a duplicate primary key raised IntegrityError")
        except sa_exc.IntegrityError as e:
            c.eq("[flush] flush raised IntegrityError wrapping 23505", e.orig.pgcode, "23505")
        try:
            s.connection().execute(text("SELECT count(*) FROM %s" % TABLE))
        except sa_exc.PendingRollbackError as e:
            pending = e
        except sa_exc.DBAPIError as e:   # if a SQLAlchemy version lets it reach the server
            pending = e
        print("[flush] next statement on the session: %s: %s" % (type(pending).__name__, pending))
        c.true("[flush] SQLAlchemy refuses with PendingRollbackError (client side)",
               isinstance(pending, sa_exc.PendingRollbackError), repr(pending))
        s.rollback()
        s.close()
        row = conn.execute(text("SELECT * FROM txguard_last_abort()")).mappings().first()
        row = dict(row) if row is not None else None
        conn.rollback()
    print("[flush] txguard_last_abort() on the session's connection: %r" % row)
    if c.true("[flush] txguard_last_abort() returns the flush's abort", row is not None):
        c.eq("[flush] sqlstate", row["sqlstate"], "23505")
        c.contains("[flush] statement is SQLAlchemy's INSERT", row["statement"],
                   "INSERT INTO %s (id, name) VALUES (1, 'dup')" % TABLE)
        c.eq("[flush] statement_ordinal", row["statement_ordinal"], 2)
        c.eq("[flush] constraint_name", row["constraint_name"], TABLE + "_pkey")
        c.eq("[flush] no command was ignored", row["ignored_commands"], 0)
        c.eq("[flush] SQLAlchemy itself rolled back", row["ended_by"], "rollback")

    # --- 2. Session.execute(text(...)) dup, then the session's connection reaches the server
    dup, err = session_text_path(engine)
    c.true("[session/text] the INSERT raised IntegrityError", dup is not None)
    check_internal_error(c, "session/text", err)

    # --- 3. Core connection with begin()
    dup, err = core_path(engine)
    c.true("[core] the INSERT raised IntegrityError", dup is not None)
    check_internal_error(c, "core", err)

    # --- 4. annotate = off proves the difference
    dup, err = core_path(engine, setup="SET txguard.annotate = off")
    check_internal_error(c, "core/off", err, annotated=False)
    engine.dispose()


run("sqlalchemy", body)
