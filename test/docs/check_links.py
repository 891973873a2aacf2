#!/usr/bin/python3
"""Check that every relative link and #anchor of some Markdown files resolves.

    check_links.py ROOT FILE...

For each FILE (a path relative to ROOT) prints "ok - links:FILE (...)" or
"not ok - links:FILE (...)", preceded by one "# FILE:LINE: ..." line per
broken link.  Exit status 1 if a link is broken.

What is checked, as GitHub renders a repository's Markdown:
  * inline links and images [text](dest), reference definitions [x]: dest, and
    the href/src of HTML tags; links in code spans and fenced code blocks are
    not links and are skipped, as are links with a scheme (https:, mailto:);
  * dest's path, relative to the file's directory, must exist inside ROOT (a
    leading "/" is not the repository root on GitHub and is an error);
  * dest's #anchor must name a heading (or an HTML id/name) of the target
    Markdown file, or of the file itself for a bare #anchor.  Heading anchors
    follow GitHub (github-slugger): the heading's text as rendered, lower-case,
    every character that is not a letter, mark, number, "_", "-" or space
    dropped, each space turned into "-"; a repeated anchor gets "-1", "-2", ...
    in the order the headings appear.  Headings inside fenced code blocks are
    not headings.  #L12 / #L12-L20 is accepted on files that are not Markdown.
"""
import html
import os
import re
import sys
import unicodedata
from urllib.parse import unquote

FENCE = re.compile(r'^\s*(`{3,}|~{3,})')
ATX = re.compile(r'^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$')
SETEXT = re.compile(r'^ {0,3}(=+|-+)[ \t]*$')
INLINE_LINK = re.compile(r'\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+(?:"[^"]*"|\'[^\']*\'|\([^)]*\)))?\s*\)')
REF_DEF = re.compile(r'^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)')
HTML_LINK = re.compile(r'<(?:a|img|source)\b[^>]*?\b(?:href|src)\s*=\s*["\']([^"\']*)["\']', re.I)
HTML_ID = re.compile(r'<[a-z][^>]*?\b(?:id|name)\s*=\s*["\']([^"\']+)["\']', re.I)
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:|^//')
LINE_ANCHOR = re.compile(r'^L\d+(?:-L\d+)?$')


def code_spans(text):
    """Split text into (is_code, piece) runs of CommonMark code spans."""
    out, i = [], 0
    while i < len(text):
        m = re.compile(r'`+').search(text, i)
        if not m:
            break
        ticks = m.group(0)
        end = re.compile(r'(?<!`)' + ticks + r'(?!`)').search(text, m.end())
        if not end:
            out.append((False, text[i:m.end()]))
            i = m.end()
            continue
        out.append((False, text[i:m.start()]))
        out.append((True, text[m.end():end.start()]))
        i = end.end()
    out.append((False, text[i:]))
    return out


def rendered_text(heading):
    """The text GitHub renders for a heading's inline Markdown."""
    parts = []
    for is_code, piece in code_spans(heading):
        if is_code:
            parts.append(piece.strip(' ') if piece.strip(' ') else piece)
            continue
        piece = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', piece)      # links, images -> text
        piece = re.sub(r'<[^>]+>', '', piece)                         # HTML tags
        piece = re.sub(r'(?<![\w\\])_+(?=\S)|(?<=\S)_+(?![\w])', '', piece)  # _emphasis_
        piece = re.sub(r'\\(.)', r'\1', piece)                        # backslash escapes
        parts.append(html.unescape(piece))
    return ''.join(parts)


def slugify(text):
    out = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch == ' ':
            out.append('-')
        elif ch in '-_' or cat[0] in 'LMN':
            out.append(ch)
    return ''.join(out)


class Doc:
    """A Markdown file: its anchors and its links (line, destination)."""

    def __init__(self, path):
        self.anchors = set()
        self.links = []
        occurrences = {}

        def add_heading(text):
            slug = base = slugify(rendered_text(text.strip()))
            while slug in occurrences:
                occurrences[base] += 1
                slug = '%s-%d' % (base, occurrences[base])
            occurrences[slug] = 0
            self.anchors.add(slug)

        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
        fence = None
        prev_para = None        # the previous line, if it can be a setext heading's text
        for no, line in enumerate(lines, 1):
            m = FENCE.match(line)
            if fence:
                if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                        and line.strip() == m.group(1):
                    fence = None
                continue
            if m:
                fence = m.group(1)
                prev_para = None
                continue
            s = SETEXT.match(line)
            if s and prev_para is not None and not (s.group(1)[0] == '-' and prev_para == ''):
                add_heading(prev_para)
                prev_para = None
                continue
            h = ATX.match(line)
            if h:
                add_heading(h.group(2) or '')
                text_for_links = h.group(2) or ''
                prev_para = None
            else:
                text_for_links = line
                stripped = line.strip()
                plain = stripped and not re.match(r'^([-*+]|\d+[.)]|>|\||<!--)', stripped) \
                    and not line.startswith('    ')
                prev_para = stripped if plain else None
            for is_code, piece in code_spans(text_for_links):
                if is_code:
                    continue
                for rx in (INLINE_LINK, HTML_LINK):
                    for lm in rx.finditer(piece):
                        self.links.append((no, lm.group(1)))
                for im in HTML_ID.finditer(piece):
                    self.anchors.add(im.group(1))
            r = REF_DEF.match(line)
            if r:
                self.links.append((no, r.group(1)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root = os.path.realpath(sys.argv[1])
    docs = {}

    def doc(path):
        if path not in docs:
            docs[path] = Doc(path)
        return docs[path]

    broken_total = 0
    for rel in sys.argv[2:]:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            print('# %s: no such file' % rel)
            print('not ok - links:%s (missing)' % rel)
            broken_total += 1
            continue
        d = doc(path)
        broken = anchors = 0
        for no, dest in d.links:
            if dest.startswith('<') and dest.endswith('>'):
                dest = dest[1:-1]
            if not dest or SCHEME.match(dest):
                continue
            target, _, frag = dest.partition('#')
            problem = None
            if target.startswith('/'):
                problem = 'an absolute path (GitHub does not resolve it inside the repository)'
                tpath = None
            elif target:
                tpath = os.path.realpath(os.path.join(os.path.dirname(path), unquote(target)))
                if tpath != root and not tpath.startswith(root + os.sep):
                    problem = 'points outside the repository'
                elif not os.path.exists(tpath):
                    problem = 'no such file or directory'
            else:
                tpath = path
            if problem is None and frag:
                anchors += 1
                frag = unquote(frag)
                if tpath.endswith('.md') and os.path.isfile(tpath):
                    if frag not in doc(tpath).anchors:
                        problem = 'no heading or id makes the anchor #%s in %s' % (
                            frag, os.path.relpath(tpath, root))
                elif not (os.path.isfile(tpath) and LINE_ANCHOR.match(frag)):
                    problem = 'an anchor on a file that is not Markdown'
            if problem:
                broken += 1
                print('# %s:%d: (%s): %s' % (rel, no, dest, problem))
        what = '%d links, %d with an anchor' % (len(d.links), anchors)
        if broken:
            print('not ok - links:%s (%d broken of %s)' % (rel, broken, what))
        else:
            print('ok - links:%s (%s)' % (rel, what))
        broken_total += broken
    sys.exit(1 if broken_total else 0)


if __name__ == '__main__':
    main()
