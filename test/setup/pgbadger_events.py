#!/usr/bin/python3
"""Read the "Most Frequent Errors/Events" table of a pgBadger HTML report.

    pgbadger_events.py report.html

Prints one line per event: COUNT, a tab, the event as pgBadger normalized it
("WARNING:  txguard: aborted transaction ended by rollback; cause ...").
Exit status 1 if the report has no such table.
"""
import html
import re
import sys

text = open(sys.argv[1], encoding='utf-8', errors='replace').read()
start = text.find('id="most-frequent-errors-events-table"')
if start < 0:
    sys.exit('no "Most Frequent Errors/Events" table in %s' % sys.argv[1])
# the table holds tables of its own (the examples): it ends where the next section starts
end = text.find('class="analysis-item', start)
table = text[start:end if end > 0 else len(text)]
# one row: <tr><td>RANK</td><td>COUNT <p><a href="#Amost_frequent_error_N" ...
#          ... <p class="error-pre"><span class="...">EVENT</span>
ROW = re.compile(r'<tr>\s*<td>\d+</td>\s*<td>(\d+).*?<p class="error-pre"><span[^>]*>(.*?)</span>', re.S)
for count, event in ROW.findall(table):
    print('%s\t%s' % (count, html.unescape(event)))
