"""Query-string splitting and statement text, as DEFINITION.md section 1-2 say.

This is the model's own reading of the definition, independent of txguard's
C code: a query string is split the way psql splits a script, at semicolons
outside

  * quotes: '...' (standard strings, '' doubles a quote), E'...' (backslash
    escapes), "..." (identifiers, "" doubles);
  * dollar quotes: $$...$$, $tag$...$tag$ ($1 is a parameter, not a tag);
  * comments: -- to end of line, /* ... */ nested;
  * the BEGIN ATOMIC ... END body of CREATE [OR REPLACE] FUNCTION/PROCEDURE
    (psql's heuristic: after CREATE [OR REPLACE] FUNCTION|PROCEDURE, count
    BEGIN/CASE ... END at parenthesis depth 0).

Segments holding only whitespace and comments are empty statements and are
not statements.
"""

import re

WS = ' \t\n\r\f\v'
_ident_start = re.compile(r'[A-Za-z_\x80-\U0010ffff]')
_ident = re.compile(r'[A-Za-z_0-9$\x80-\U0010ffff]*')
_dollar_tag = re.compile(r'\$([A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?\$')


class Piece:
    """One statement of a query string.

    seg_start  index right after the semicolon that precedes it (0 for the first)
    end        index of its terminating semicolon, or len(sql)
    text       its text per DEFINITION.md section 2
    """
    __slots__ = ('seg_start', 'end', 'text')

    def __init__(self, seg_start, end, text):
        self.seg_start, self.end, self.text = seg_start, end, text

    def __repr__(self):
        return 'Piece(%r)' % self.text


def _comment_end(sql, i):
    """The index after the (nested) /* comment starting at i, or len(sql)."""
    depth, i, n = 1, i + 2, len(sql)
    while depth:
        o = sql.find('/*', i)
        c = sql.find('*/', i)
        if c < 0:
            return n
        if 0 <= o < c:
            depth, i = depth + 1, o + 2
        else:
            depth, i = depth - 1, c + 2
    return i


def _scan(sql):
    """Yield ('semi', i) for each statement-terminating semicolon and
    ('tok', i) for the start of each token that is not whitespace or a
    comment."""
    i, n = 0, len(sql)
    paren = 0
    idents = []          # first identifiers of the current statement (lower case)
    begin_depth = 0
    while i < n:
        c = sql[i]
        if c in WS:
            i += 1
            continue
        if c == '-' and sql.startswith('--', i):
            j = sql.find('\n', i)
            i = n if j < 0 else j + 1
            continue
        if c == '/' and sql.startswith('/*', i):
            i = _comment_end(sql, i)
            continue
        if c == ';' and paren == 0 and begin_depth == 0:
            yield ('semi', i)
            idents, begin_depth = [], 0
            i += 1
            continue
        yield ('tok', i)
        if c == "'" or (c in 'eE' and sql.startswith("'", i + 1)):
            esc = c in 'eE'
            i += 2 if esc else 1
            while i < n:
                if esc and sql[i] == '\\':
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            continue
        if c == '"':
            i += 1
            while i < n:
                if sql[i] == '"':
                    if sql.startswith('""', i):
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            continue
        if c == '$':
            m = _dollar_tag.match(sql, i)
            if m:
                tag = m.group(0)
                j = sql.find(tag, m.end())
                i = n if j < 0 else j + len(tag)
                continue
            i += 1
            while i < n and sql[i].isdigit():
                i += 1
            continue
        if c == '(':
            paren += 1
            i += 1
            continue
        if c == ')':
            paren = max(0, paren - 1)
            i += 1
            continue
        if _ident_start.match(c):
            m = _ident.match(sql, i + 1)
            word = sql[i:m.end()].lower()
            i = m.end()
            idents.append(word)
            head = [w for w in idents[:4]]
            is_create_fn = (len(head) >= 2 and head[0] == 'create' and
                            (head[1] in ('function', 'procedure') or
                             (len(head) >= 4 and head[1] == 'or' and head[2] == 'replace'
                              and head[3] in ('function', 'procedure'))))
            if is_create_fn and paren == 0:
                if word == 'begin':
                    begin_depth += 1
                elif word == 'case' and begin_depth >= 1:
                    begin_depth += 1
                elif word == 'end' and begin_depth > 0:
                    begin_depth -= 1
            continue
        i += 1


def trim(text):
    return text.strip(WS)


def split(sql):
    """The statements of a query string, as a list of Piece."""
    pieces = []
    seg_start = 0
    has_tok = False
    for what, i in _scan(sql):
        if what == 'tok':
            has_tok = True
        else:
            if has_tok:
                pieces.append(Piece(seg_start, i, trim(sql[seg_start:i])))
            seg_start, has_tok = i + 1, False
    if has_tok:
        pieces.append(Piece(seg_start, len(sql), trim(sql[seg_start:])))
    return pieces


def whole(sql, pieces):
    """The whole query string trimmed as in section 2: from the first
    statement to the end of the last one, semicolons between kept."""
    if not pieces:
        return trim(sql)
    return trim(sql[pieces[0].seg_start:pieces[-1].end])


def prepared_text(sql):
    """The text of a prepared statement (extended protocol), trimmed the same
    way: a single statement's text; several statements: from the first to
    the end of the last."""
    return whole(sql, split(sql))


def strip_comments(text):
    """The text without comments, whitespace runs collapsed to one space
    (quotes kept as they are): used to classify a statement."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '-' and text.startswith('--', i):
            j = text.find('\n', i)
            i = n if j < 0 else j + 1
            out.append(' ')
            continue
        if c == '/' and text.startswith('/*', i):
            i = _comment_end(text, i)
            out.append(' ')
            continue
        if c == "'" or (c in 'eE' and text.startswith("'", i + 1)):
            j = i + (2 if c in 'eE' else 1)
            esc = c in 'eE'
            while j < n:
                if esc and text[j] == '\\':
                    j += 2
                    continue
                if text[j] == "'":
                    if text.startswith("''", j):
                        j += 2
                        continue
                    j += 1
                    break
                j += 1
            out.append(text[i:j])
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n:
                if text[j] == '"':
                    if text.startswith('""', j):
                        j += 2
                        continue
                    j += 1
                    break
                j += 1
            out.append(text[i:j])
            i = j
            continue
        if c == '$':
            m = _dollar_tag.match(text, i)
            if m:
                tag = m.group(0)
                j = text.find(tag, m.end())
                j = n if j < 0 else j + len(tag)
                out.append(text[i:j])
                i = j
                continue
        out.append(' ' if c in WS else c)
        i += 1
    return re.sub(r' +', ' ', ''.join(out)).strip()


def cut_bytes(text, limit, encoding='utf-8'):
    """(text cut to at most ``limit`` bytes of ``encoding`` (the encoding of
    the database where it was captured) on a character boundary, whether it
    was cut)."""
    if len(text) * (1 if encoding == 'latin-1' else 4) <= limit:
        return text, False
    b = text.encode(encoding)
    if len(b) <= limit:
        return text, False
    b = b[:limit]
    while b:
        try:
            return b.decode(encoding), True
        except UnicodeDecodeError:
            b = b[:-1]
    return '', True
