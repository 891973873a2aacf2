"""Django 3.2 (psycopg2 backend): what a Django user sees after a failed statement in atomic()."""
import django
from django.conf import settings

from txg_common import CORE_MSG, DUP, DBNAME, HOST, PORT, USER, run

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "__main__"],
    DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": DBNAME,
                           "USER": USER, "HOST": HOST, "PORT": str(PORT)}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField")
django.setup()

from django.db import IntegrityError, connection, models, transaction  # noqa: E402
from django.db.transaction import TransactionManagementError  # noqa: E402
from django.db.utils import InternalError  # noqa: E402


class Item(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        app_label = "__main__"


TABLE = "__main___item"
CONSTRAINT = "__main___item_name_key"
RAW_INSERT = "INSERT INTO __main___item (name) VALUES ('a')"


def last_abort():
    """txguard_last_abort() as a dict (None when there is no row)."""
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM txguard_last_abort()")
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))


def raw_case():
    """Failing INSERT via cursor.execute inside atomic(), IntegrityError caught, next ORM query."""
    dup = err = None
    try:
        with transaction.atomic():
            Item.objects.filter(name="zzz").exists()                # statement 1
            try:
                with connection.cursor() as cur:
                    cur.execute(RAW_INSERT)                          # statement 2
            except IntegrityError as e:
                dup = e
            Item.objects.count()                                     # -> 25P02
    except InternalError as e:
        err = e
    return dup, err


def body(c):
    with connection.schema_editor() as ed:
        ed.execute("DROP TABLE IF EXISTS %s" % TABLE)
        ed.create_model(Item)
    Item.objects.create(name="a")

    # --- the classic case: raw cursor.execute dup, then an ORM query reaches the server
    dup, err = raw_case()
    print("django.db.utils.InternalError shown to the user:\n%s" % err)
    c.true("the raw INSERT raised IntegrityError", dup is not None)
    c.true("the next ORM query raised django.db.utils.InternalError", err is not None)
    if err is not None:
        c.eq("underlying SQLSTATE stays 25P02", getattr(err.__cause__, "pgcode", None), "25P02")
        c.true("the error text starts with core's message",
               str(err).startswith(CORE_MSG), str(err))
        c.contains("InternalError text names 23505, the duplicate key error and its statement",
                   str(err), "23505", DUP, '"%s"' % CONSTRAINT, RAW_INSERT)
        c.contains("InternalError text gives the statement ordinal",
                   str(err), "earlier error in statement 2: ERROR 23505: ")
    la = last_abort()
    print("txguard_last_abort() after the atomic block: %r" % la)
    if c.true("txguard_last_abort() returns a row after the block", la is not None):
        c.eq("last_abort.sqlstate", la["sqlstate"], "23505")
        c.eq("last_abort.statement", la["statement"], RAW_INSERT)
        c.eq("last_abort.statement_ordinal", la["statement_ordinal"], 2)
        c.eq("last_abort.ignored_commands (the ORM count)", la["ignored_commands"], 1)
        c.eq("last_abort.ended_by (Django rolled back)", la["ended_by"], "rollback")

    # --- ORM path: Django refuses on its own (no server contact), txguard still knows why
    tme = None
    try:
        with transaction.atomic():
            try:
                Item.objects.create(name="a")
            except IntegrityError:
                pass
            Item.objects.count()
    except TransactionManagementError as e:
        tme = e
    print("ORM path: %s: %s" % (type(tme).__name__ if tme else None, tme))
    c.true("ORM path: Django raises TransactionManagementError itself", tme is not None, tme)
    c.contains("ORM path: Django's own text (no server error involved)", tme,
               "An error occurred in the current transaction. You can't execute queries "
               "until the end of the 'atomic' block.")
    la = last_abort()
    print("txguard_last_abort() after leaving the atomic block: %r" % la)
    if c.true("ORM path: txguard_last_abort() returns a row", la is not None):
        c.eq("ORM path: last_abort.sqlstate", la["sqlstate"], "23505")
        c.eq("ORM path: last_abort.constraint_name", la["constraint_name"], CONSTRAINT)
        c.eq("ORM path: last_abort.table_name", la["table_name"], TABLE)
        c.contains("ORM path: last_abort.message", la["message"], DUP)
        c.contains("ORM path: last_abort.statement is Django's INSERT", la["statement"],
                   'INSERT INTO "%s" ("name") VALUES (' % TABLE)
        c.eq("ORM path: last_abort.in_block", la["in_block"], True)
        c.eq("ORM path: no command reached the server after the error",
             la["ignored_commands"], 0)
        c.eq("ORM path: last_abort.ended_by", la["ended_by"], "rollback")

    # --- annotate = off: the classic case shows core's bare message (proves the difference)
    with connection.cursor() as cur:
        cur.execute("SET txguard.annotate = off")
    dup, err = raw_case()
    print("[off] InternalError: %s" % err)
    c.true("[off] the next ORM query raised InternalError", err is not None)
    if err is not None:
        c.eq("[off] text is core's message only", str(err).strip(), CORE_MSG)
        c.lacks("[off] no cause in the text", str(err), "23505", DUP, RAW_INSERT)
    with connection.cursor() as cur:
        cur.execute("RESET txguard.annotate")


run("django", body)
