"""A small PostgreSQL v3 frontend protocol client, pure Python stdlib.

Written for txguard's reference-model tester (test/model/run.py), but has no
txguard knowledge.  It speaks exactly what the tester needs:

  * startup with trust authentication (any startup option, e.g.
    ``options='-c txguard.track=all'``), BackendKeyData (the backend pid);
  * the simple query protocol (Query), including COPY FROM STDIN (CopyData,
    CopyDone, CopyFail) and COPY TO STDOUT;
  * the extended protocol: Parse, Bind, Describe, Execute (with a row
    limit), Close, Flush, Sync; any number of them sent at once (a
    pipeline with several Syncs);
  * FunctionCall ('F', the fast-path interface) by function OID;
  * CancelRequest (on a second connection, as libpq does).

Every backend message is returned as an ``Event`` (in order), with every
ErrorResponse/NoticeResponse field decoded ('S' severity, 'V' non-localized
severity, 'C' SQLSTATE, 'M' message, 'D' detail, 'H' hint, 'P' position,
...), CommandComplete tags, PortalSuspended, and ReadyForQuery's status byte
(I, T or E).

Low level: build messages with the ``msg_*`` functions, send them with
``Conn.send``, read events with ``Conn.read_event``.  High level:
``Conn.query`` (simple protocol, handles COPY FROM STDIN) and
``Conn.exchange`` (send a batch of messages and read until a marker, see its
docstring).
"""

import collections
import socket
import struct
import time

PROTOCOL_3 = 196608
CANCEL_REQUEST_CODE = 80877102

# Backend message types (first byte) -> readable kind used in Event.kind.
BACKEND_KINDS = {
    b'R': 'auth', b'S': 'param_status', b'K': 'backend_key', b'Z': 'ready',
    b'T': 'row_desc', b'D': 'data_row', b'C': 'complete', b'I': 'empty',
    b'E': 'error', b'N': 'notice', b'1': 'parse_complete',
    b'2': 'bind_complete', b'3': 'close_complete', b't': 'param_desc',
    b'n': 'no_data', b's': 'suspended', b'G': 'copy_in', b'H': 'copy_out',
    b'W': 'copy_both', b'd': 'copy_data', b'c': 'copy_done',
    b'V': 'fn_result', b'A': 'notification', b'v': 'negotiate',
}


class ProtocolError(Exception):
    """The server said something this client does not understand."""


class Event:
    """One backend message.

    kind    one of BACKEND_KINDS' values
    fields  for error/notice: dict field code -> str ('C', 'M', 'D', ...)
    tag     for complete: the command tag ('INSERT 0 1')
    status  for ready: 'I', 'T' or 'E'
    values  for data_row: list of str/None; for fn_result: [value]
    nparams for param_desc: list of parameter type OIDs
    ncols   for row_desc: number of columns (names in 'names')
    raw     the message body (bytes)
    """
    __slots__ = ('kind', 'fields', 'tag', 'status', 'values', 'nparams',
                 'ncols', 'names', 'raw')

    def __init__(self, kind, raw=b''):
        self.kind = kind
        self.raw = raw
        self.fields = None
        self.tag = None
        self.status = None
        self.values = None
        self.nparams = None
        self.ncols = None
        self.names = None

    @property
    def sqlstate(self):
        return self.fields.get('C') if self.fields else None

    def __repr__(self):
        if self.kind in ('error', 'notice'):
            return '<%s %s %r>' % (self.kind, self.fields.get('C'), self.fields.get('M'))
        if self.kind == 'complete':
            return '<complete %r>' % self.tag
        if self.kind == 'ready':
            return '<ready %s>' % self.status
        return '<%s>' % self.kind


# ---------------------------------------------------------------- frontend messages

def _cstr(s):
    if isinstance(s, str):
        s = s.encode('utf-8')
    if b'\0' in s:
        raise ValueError('NUL byte in a protocol string')
    return s + b'\0'


def _msg(typ, body):
    return typ + struct.pack('!I', len(body) + 4) + body


def msg_query(sql):
    """Query (simple protocol)."""
    return _msg(b'Q', _cstr(sql))


def msg_parse(name, sql, param_oids=()):
    """Parse: prepared statement ``name`` ('' = unnamed) from ``sql``."""
    body = _cstr(name) + _cstr(sql) + struct.pack('!H', len(param_oids))
    for oid in param_oids:
        body += struct.pack('!I', oid)
    return _msg(b'P', body)


def msg_bind(portal, stmt, params=(), result_formats=()):
    """Bind: portal ``portal`` from statement ``stmt``; params as text
    (str/bytes, or None for NULL); all parameters in text format."""
    body = _cstr(portal) + _cstr(stmt)
    body += struct.pack('!H', 0)               # all parameters in text format
    body += struct.pack('!H', len(params))
    for p in params:
        if p is None:
            body += struct.pack('!i', -1)
        else:
            b = p.encode('utf-8') if isinstance(p, str) else p
            body += struct.pack('!i', len(b)) + b
    body += struct.pack('!H', len(result_formats))
    for f in result_formats:
        body += struct.pack('!H', f)
    return _msg(b'B', body)


def msg_describe(what, name):
    """Describe: what = 'S' (statement) or 'P' (portal)."""
    return _msg(b'D', what.encode() + _cstr(name))


def msg_execute(portal, max_rows=0):
    """Execute: max_rows 0 = no limit."""
    return _msg(b'E', _cstr(portal) + struct.pack('!I', max_rows))


def msg_close(what, name):
    """Close: what = 'S' (statement) or 'P' (portal)."""
    return _msg(b'C', what.encode() + _cstr(name))


def msg_flush():
    return _msg(b'H', b'')


def msg_sync():
    return _msg(b'S', b'')


def msg_function_call(oid, args=(), result_format=0):
    """FunctionCall ('F'): call the function ``oid`` with text arguments
    (str/bytes, or None for NULL); result in text (0) or binary (1)."""
    body = struct.pack('!I', oid)
    body += struct.pack('!H', 1) + struct.pack('!H', 0)    # one format code: all text
    body += struct.pack('!H', len(args))
    for a in args:
        if a is None:
            body += struct.pack('!i', -1)
        else:
            b = a.encode('utf-8') if isinstance(a, str) else a
            body += struct.pack('!i', len(b)) + b
    body += struct.pack('!H', result_format)
    return _msg(b'F', body)


def msg_copy_data(data):
    return _msg(b'd', data.encode('utf-8') if isinstance(data, str) else data)


def msg_copy_done():
    return _msg(b'c', b'')


def msg_copy_fail(reason):
    return _msg(b'f', _cstr(reason))


def msg_terminate():
    return _msg(b'X', b'')


# ---------------------------------------------------------------- connection

class Conn:
    """One backend connection.

    >>> c = Conn(host='127.0.0.1', port=5432, user='postgres', database='postgres')
    >>> evs = c.query('SELECT 1')
    """

    def __init__(self, host='127.0.0.1', port=5432, user='postgres',
                 database='postgres', options=None, timeout=30.0,
                 application_name='txguard-model', unix_socket_dir=None,
                 client_encoding='UTF8'):
        self.addr = (host, port, unix_socket_dir, timeout)
        if unix_socket_dir:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect('%s/.s.PGSQL.%d' % (unix_socket_dir, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.recent = collections.deque(maxlen=20)     # the last events read
        self.pid = None
        self.secret = None
        self.params = {}
        self.status = None
        self.closed = False
        body = struct.pack('!I', PROTOCOL_3)
        for k, v in (('user', user), ('database', database),
                     ('application_name', application_name),
                     ('client_encoding', client_encoding),
                     ('options', options)):
            if v:
                body += _cstr(k) + _cstr(v)
        body += b'\0'
        self.sock.sendall(struct.pack('!I', len(body) + 4) + body)
        # Authentication and start-up: read until ReadyForQuery.
        while True:
            ev = self.read_event()
            if ev.kind == 'auth':
                code = struct.unpack('!I', ev.raw[:4])[0]
                if code != 0:
                    raise ProtocolError('authentication method %d not supported '
                                        '(this client speaks trust only)' % code)
            elif ev.kind == 'error':
                raise ProtocolError('connection refused: %s %s' % (
                    ev.fields.get('C'), ev.fields.get('M')))
            elif ev.kind == 'ready':
                break

    # -- low level

    def send(self, data):
        """Send raw bytes (concatenated msg_* results)."""
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) - self.pos < n:
            if self.pos > 65536:
                del self.buf[:self.pos]
                self.pos = 0
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise ConnectionError('server closed the connection')
            self.buf += chunk

    def read_event(self):
        """Read and decode one backend message."""
        self._fill(5)
        typ = bytes(self.buf[self.pos:self.pos + 1])
        length = struct.unpack_from('!I', self.buf, self.pos + 1)[0]
        self._fill(1 + length)
        body = bytes(self.buf[self.pos + 5:self.pos + 1 + length])
        self.pos += 1 + length
        kind = BACKEND_KINDS.get(typ)
        if kind is None:
            raise ProtocolError('unknown backend message type %r' % typ)
        ev = Event(kind, body)
        self.recent.append(ev)
        if kind in ('error', 'notice'):
            f = {}
            for part in body.split(b'\0'):
                if part:
                    f[chr(part[0])] = part[1:].decode('utf-8', 'replace')
            ev.fields = f
        elif kind == 'complete':
            ev.tag = body[:-1].decode()
        elif kind == 'ready':
            ev.status = chr(body[0])
            self.status = ev.status
        elif kind == 'data_row':
            n = struct.unpack_from('!H', body, 0)[0]
            off = 2
            vals = []
            for _ in range(n):
                ln = struct.unpack_from('!i', body, off)[0]
                off += 4
                if ln < 0:
                    vals.append(None)
                else:
                    vals.append(body[off:off + ln].decode('utf-8', 'replace'))
                    off += ln
            ev.values = vals
        elif kind == 'fn_result':
            ln = struct.unpack_from('!i', body, 0)[0]
            ev.values = [None if ln < 0 else body[4:4 + ln].decode('utf-8', 'replace')]
        elif kind == 'param_desc':
            n = struct.unpack_from('!H', body, 0)[0]
            ev.nparams = list(struct.unpack_from('!%dI' % n, body, 2))
        elif kind == 'row_desc':
            n = struct.unpack_from('!H', body, 0)[0]
            ev.ncols = n
            names, off = [], 2
            for _ in range(n):
                end = body.index(b'\0', off)
                names.append(body[off:end].decode())
                off = end + 1 + 18
            ev.names = names
        elif kind == 'param_status':
            k, v = body.split(b'\0')[:2]
            self.params[k.decode()] = v.decode()
        elif kind == 'backend_key':
            self.pid, self.secret = struct.unpack('!II', body[:8])
        return ev

    # -- high level

    def query(self, sql, copy_payloads=()):
        """Simple protocol: send one Query and read until ReadyForQuery.

        ``copy_payloads``: what to answer each CopyInResponse with, in order;
        each is ('data', [chunks]) -> CopyData* + CopyDone, or
        ('fail', reason) -> CopyFail.  A CopyInResponse without a payload left
        is answered with CopyFail.  Returns the list of events (the final
        'ready' included)."""
        self.send(msg_query(sql))
        return self.read_until_ready(copy_payloads)

    def read_until_ready(self, copy_payloads=()):
        payloads = list(copy_payloads)
        events = []
        while True:
            ev = self.read_event()
            events.append(ev)
            if ev.kind == 'copy_in':
                if payloads:
                    how, arg = payloads.pop(0)
                else:
                    how, arg = 'fail', 'no data for this COPY'
                if how == 'data':
                    # a chunk {'pause': ms}: wait before sending the rest
                    out = b''
                    for c in arg:
                        if isinstance(c, dict):
                            self.send(out)
                            out = b''
                            time.sleep(c['pause'] / 1000.0)
                        else:
                            out += msg_copy_data(c)
                    out += msg_copy_done()
                else:
                    out = msg_copy_fail(arg)
                self.send(out)
            elif ev.kind == 'ready':
                return events

    def exchange(self, data, marker):
        """Send ``data`` (any frontend messages except COPY FROM STDIN
        answers) followed by ``marker`` and read events until the marker's
        answer has been seen.

        ``marker`` is (bytes to send, predicate on the event list): the
        predicate is called after each event and returns the number of
        trailing events that belong to the marker when it is complete, or 0.
        Returns the events before the marker.  With a marker, the caller
        need not know in advance how many ReadyForQuery messages its
        messages produce (a Query sent after an extended-protocol error is
        skipped by the server and produces none)."""
        mbytes, done = marker
        self.send(data + mbytes)
        return self.read_until_marker(done)

    def read_until_marker(self, done):
        """Read events until the predicate ``done`` of a marker sent (see
        exchange) finds its answer; returns the events before it."""
        events = []
        while True:
            events.append(self.read_event())
            n = done(events)
            if n:
                return events[:-n]

    def cancel(self):
        """Send a CancelRequest for this connection's backend (on a new
        connection, as libpq's PQcancel does)."""
        host, port, unix_socket_dir, timeout = self.addr
        if unix_socket_dir:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect('%s/.s.PGSQL.%d' % (unix_socket_dir, port))
        else:
            s = socket.create_connection((host, port), timeout=timeout)
        try:
            s.sendall(struct.pack('!IIII', 16, CANCEL_REQUEST_CODE, self.pid, self.secret))
            s.recv(1)           # the server closes the connection when done
        finally:
            s.close()

    def read_until_closed(self, timeout):
        """Read events until the server closes the connection (after a
        FATAL) or ``timeout`` seconds pass; returns (events, closed)."""
        events = []
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                events.append(self.read_event())
        except ConnectionError:
            return events, True
        except socket.timeout:
            return events, False
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def pending(self):
        """Whether the server has sent something not read yet."""
        if len(self.buf) > self.pos:
            return True
        old = self.sock.gettimeout()
        self.sock.settimeout(0)
        try:
            chunk = self.sock.recv(65536)
            if not chunk:
                return True     # closed: a read will say so
            self.buf += chunk
            return True
        except (BlockingIOError, socket.timeout):
            return False
        finally:
            self.sock.settimeout(old)

    def close(self):
        if not self.closed:
            try:
                self.send(msg_terminate())
            except OSError:
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def simple_rows(events):
    """The DataRow values of a list of events, as a list of lists."""
    return [ev.values for ev in events if ev.kind == 'data_row']


def first_error(events):
    for ev in events:
        if ev.kind == 'error':
            return ev
    return None
