#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turns one page of haul's docs/ (Markdown, as haul's docs write it) into a
man page, so that `man 5 haul.yaml` is made from the same text as
docs/configuration.md and cannot drift from it. It understands what those
pages use: headings, paragraphs, fenced code, bullet lists, tables, inline
code, bold and links (a link keeps its text). No Markdown library: Debian's
python3-markdown emits HTML, not roff.
Usage: md2man.py PAGE.md NAME SECTION VERSION "one-line summary" > NAME.SECTION"""
import re
import sys

src, name, section, version, summary = sys.argv[1:6]
lines = open(src, encoding="utf-8").read().split("\n")


def esc(text):
    text = text.replace("\\", "\\e")
    return text


def inline(text):
    text = esc(text)
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    code = lambda m: "\\fB" + m.group(1).strip().replace("-", "\\-") + "\\fR"
    text = re.sub(r"``(.+?)``", code, text)
    text = re.sub(r"`([^`]+)`", code, text)
    return text


def line_out(text):
    # A roff line must not start with a control character.
    return "\\&" + text if text[:1] in (".", "'") else text


out = ['.TH "%s" "%s" "" "haul %s" "haul manual"' % (name.upper(), section, version),
       ".SH NAME", "%s \\- %s" % (name, esc(summary))]
i = 0
para = []


def flush():
    global para
    if para:
        out.append(".PP")
        out.extend(line_out(inline(p)) for p in para)
        para = []


while i < len(lines):
    line = lines[i]
    if line.startswith("<!--"):
        i += 1
        continue
    if line.startswith("# "):
        flush()
        out.append(".SH DESCRIPTION")
        i += 1
        continue
    m = re.match(r"^(##+) (.*)", line)
    if m:
        flush()
        title = re.sub(r"`", "", m.group(2))
        out.append((".SH " if len(m.group(1)) == 2 else ".SS ") + '"' + esc(title.upper() if len(m.group(1)) == 2 else title) + '"')
        i += 1
        continue
    if line.startswith("```"):
        flush()
        out += [".PP", ".RS 4", ".nf"]
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            out.append(line_out(esc(lines[i])))
            i += 1
        out += [".fi", ".RE"]
        i += 1
        continue
    if line.startswith("|"):
        flush()
        rows = []
        while i < len(lines) and lines[i].startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", lines[i].strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append([c.replace("\\|", "|") for c in cells])
            i += 1
        header, body = rows[0], rows[1:]
        for row in body:
            out.append(".TP")
            out.append(line_out(inline(row[0])))
            rest = ["%s: %s" % (header[k], row[k]) if k > 1 else row[k] for k in range(1, len(row)) if row[k]]
            out.append(line_out(inline("; ".join(rest))))
        continue
    if re.match(r"^\s*[-*] ", line) or re.match(r"^\s*\d+\. ", line):
        flush()
        indent = len(line) - len(line.lstrip())
        item = [re.sub(r"^\s*([-*]|\d+\.) ", "", line)]
        i += 1
        while i < len(lines) and lines[i].strip() and not re.match(r"^\s*([-*]|\d+\.) ", lines[i]) \
                and not lines[i].startswith(("#", "```", "|")) and not lines[i].lstrip().startswith(("```", "|")):
            item.append(lines[i].strip())
            i += 1
        out.append(".IP \\(bu %d" % (2 + indent // 2))
        out.extend(line_out(inline(p)) for p in item)
        continue
    if not line.strip():
        flush()
        i += 1
        continue
    para.append(line.strip())
    i += 1
flush()
out += [".SH SEE ALSO", "\\fBhaul\\fR(1), \\fBhaul\\-agent\\fR(1), \\fBhaul.yaml\\fR(5), \\fBhaul\\-manifest\\fR(5);",
        "the full documentation in /usr/share/doc/haul/."]
sys.stdout.write("\n".join(out) + "\n")
