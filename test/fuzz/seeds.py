#!/usr/bin/python3
"""test/fuzz/seeds.py: write the seed inputs of test/fuzz/corpus/.

Each seed is a readable text with the 8-byte header that fuzz_main.c
describes; running this again rewrites the same files.  Inputs that the
fuzzer found are kept next to them under their own names (regress-*).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

ENC = {'utf8': 0, 'latin1': 1, 'euc_jp': 2}


def header(scs=True, partial=False, raw=False, enc='utf8', near=False,
           n1=0, n2=0, n3=0, pick=0):
    flags = ((0 if scs else 0x01) | (0x02 if partial else 0) |
             (0x04 if raw else 0) | (ENC[enc] << 3) | (0x20 if near else 0))
    return struct.pack('<BHHHB', flags, n1, n2, n3, pick)


# name: (text, header arguments): the statement splitter's and the text
# cut's seeds (both targets get each)
SEEDS = {
    'two-statements': (b'select 1; select 2;', {}),
    'quotes': (b"select 'a;b'; select 'it''s; here' ;select 2", {'n1': 12, 'pick': 1}),
    'e-string-scs-on': (b"select E'a\\';b'; select e'\\\\'; x", {}),
    'e-string-scs-off': (b"select 'a\\';b' ; select E'\\'' ;c", {'scs': False, 'pick': 1}),
    'not-an-e-string': (b"select type'a\\';b'; select 2", {}),
    'identifiers': (b'select "a;""b" from "t;"; select 2', {'n1': 27}),
    'dollar-quotes': (b'do $$ begin perform 1; end $$; select $fn$ a;$ b $fn$; '
                      b'select $1; select a$b; select $_x$;$_x$; select $1$;$', {'pick': 2}),
    'dollar-unterminated': (b'select $tag$ never closed; select 2', {}),
    'comments': (b'-- lead;\nselect 1; /* a /* nested; */ still; */ select 2; -- tail\n', {'n1': 15}),
    'comment-unterminated': (b'select 1 /* never closed ; select 2', {}),
    'comment-only': (b'  -- nothing here;\n/* nor ; here */ ;; ', {}),
    'begin-atomic': (b'CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC '
                     b'SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT 2;', {'pick': 1}),
    'begin-atomic-procedure': (b'create procedure p() begin atomic insert into t values (1); end;'
                               b'call p()', {}),
    'begin-atomic-unterminated': (b'create function f() begin atomic select 1; ', {}),
    'begin-not-atomic': (b'begin; select 1; end; create table t (begin int); select 2', {'pick': 3}),
    'utf8': ("select 'é€😀'; select 'ü' -- ß\n;".encode(), {}),
    'latin1': (b"select '\xe9\xfc'; select 2 -- \xdf\n", {'enc': 'latin1'}),
    'euc-jp': (b"select '\xa4\xa2\x8e\xb1\x8f\xa1\xa1'; select 2", {'enc': 'euc_jp'}),
    'unterminated-quote': (b"select 'abc; select 2", {}),
    'unterminated-identifier': (b'select "abc; select 2', {}),
    'unterminated-e-string': (b"select E'\\", {}),
    'nul-raw': (b'select 1;\x00select 2\x00', {'raw': True}),
    'nul-made-blank': (b'\x00select 1;\x00', {}),
    'blank': (b'  ;; \n\t\r\f\v ;', {}),
    'empty': (b'', {}),
    'numbers': (b'select 1.5e3;select 2x; select .5', {}),
    'trailing': (b'select 1 ; -- c\n ;  /* d */  ', {}),
    'invalid-utf8-raw': (b"select '\xc3'; select '\xe2\x82'; \xff;", {'raw': True}),
    # the text cut: long texts, small maxima, activity texts near the cut
    'long-truncated': (("select '" + 'é' * 60 + "' -- after\n").encode(), {'n1': 3}),
    'long-euc-truncated': (b"select '" + b'\xa4\xa2' * 60 + b"'", {'enc': 'euc_jp', 'n1': 1}),
    'activity-cut-in-comment': ((b'select 1 /* ' + b'x' * 100 + b' */'),
                                {'partial': True, 'near': True, 'n2': 5}),
    'activity-cut-in-char': (("select '" + 'é' * 60 + "'").encode(),
                             {'partial': True, 'near': True, 'n2': 4}),
    'activity-whole': ((b'select 1; -- ' + b'y' * 90), {'partial': True, 'n2': 400}),
}

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PAD = b"select 1 -- " + b"x" * 9000 + b"\n"

# name: (text, header arguments): the traceparent target's seeds (pick 1:
# the harness appends a comment with a traceparent of its own)
TRACEPARENT_SEEDS = {
    'sqlcommenter': (b"select 1 /*controller='index',traceparent='" + TP + b"'*/", {}),
    'prepended': (b"/*traceparent='" + TP + b"'*/ select 1", {}),
    'later-version': (b"/*traceparent='01" + TP[2:] + b"-more'*/", {}),
    'version-ff': (b"/*traceparent='ff" + TP[2:] + b"'*/", {}),
    'upper-case': (b"/*traceparent='" + TP.upper() + b"'*/", {}),
    'zero-trace-id': (b"/*traceparent='00-" + b"0" * 32 + TP[35:] + b"'*/", {}),
    'short': (b"/*traceparent='" + TP[:-3] + b"'*/", {}),
    'not-in-a-comment': (b"select 'traceparent=''" + TP + b"'''", {'pick': 1}),
    'unterminated-comment': (b"select 1 /* traceparent='" + TP + b"'", {}),
    'value-at-the-end': (b"select 1 /* traceparent='" + TP, {}),
    'closer-before': (b"select 1 /* x *", {'pick': 1, 'n1': 0xbeef}),
    'nul-before': (b"select 1\x00 /*traceparent='" + TP + b"'*/", {'raw': True}),
    'long-at-end': (PAD + PAD + b"/*traceparent='" + TP + b"'*/", {}),
    'long-at-start': (b"/*traceparent='" + TP + b"'*/" + PAD + PAD, {}),
    'long-in-the-middle': (PAD + b"/*traceparent='" + TP + b"'*/" + PAD, {'pick': 1}),
}

# name: (target, text, header arguments): the bugs the fuzzer found, each as
# a readable input that fails on the code before the fix
REGRESS = {
    # an activity text cut by core inside a character right after a blank
    # kept that blank at its end (the blanks were trimmed before the
    # incomplete character was left out)
    'partial-char-after-blank': ('cut', ('select ' + 'x' * 95 + ' é').encode(),
                                 {'partial': True, 'near': True, 'n2': 1}),
}


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def main():
    for name, (text, args) in SEEDS.items():
        for target in ('split', 'cut'):
            write(target, 'seed-' + name, header(**args) + text)
    for name, (text, args) in TRACEPARENT_SEEDS.items():
        write('traceparent', 'seed-' + name, header(**args) + text)
    for name, (target, text, args) in REGRESS.items():
        write(target, 'regress-' + name, header(**args) + text)


if __name__ == '__main__':
    main()
