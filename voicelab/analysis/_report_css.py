"""The report page's stylesheet, inlined into every page (no CDN, no external file)."""

from __future__ import annotations

__all__ = ["CSS", "PART_COLOURS"]

# One colour per breakdown stage, in pipeline order (the legend and the bars share them).
PART_COLOURS = ("#6366f1", "#0ea5e9", "#8b5cf6", "#10b981", "#ec4899", "#f59e0b", "#94a3b8")

CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--card:#fff;
--pass:#15803d;--pass-bg:#dcfce7;--fail:#b91c1c;--fail-bg:#fee2e2;--warn:#92400e;
--warn-bg:#fef3c7;--caller:#2563eb;--bot:#f59e0b}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg);margin:0}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 10px;padding-top:8px}
h3{font-size:16px;margin:22px 0 8px}
.meta,.note{color:var(--muted);font-size:13.5px}.note{margin:4px 0 12px;max-width:860px}
nav{margin:10px 0 0;font-size:13.5px}nav a{margin-right:14px;color:var(--caller)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:14px;
margin:22px 0 6px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
border-top:4px solid var(--line)}
.card .big{font-size:30px;font-weight:650;line-height:1.2}
.card .what{font-size:12.5px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .say{font-size:13.5px;color:var(--muted)}
.card.good{border-top-color:var(--pass)}.card.bad{border-top-color:var(--fail)}
.card.warn{border-top-color:#f59e0b}
.card.bad .big{color:var(--fail)}.card.good .big{color:var(--pass)}
.warnings{background:var(--warn-bg);border:1px solid #fcd34d;border-radius:10px;
padding:10px 16px;margin:18px 0}
.warnings h2{margin:4px 0 6px;font-size:17px;color:var(--warn);padding:0}
.warnings li{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;
word-break:break-all}
table{border-collapse:collapse;background:var(--card);margin:6px 0 14px;font-size:14px;
border:1px solid var(--line);border-radius:8px}
th,td{padding:6px 12px;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
th{background:#f3f4f6;font-weight:600;font-size:13px}
th[title]{text-decoration:underline dotted #9ca3af;cursor:help}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;border-radius:999px;padding:0 9px;font-size:12.5px;
font-weight:600;white-space:nowrap}
.pass{background:var(--pass-bg);color:var(--pass)}.fail{background:var(--fail-bg);
color:var(--fail)}.undecided{background:#f3f4f6;color:var(--muted)}
.warnb{background:var(--warn-bg);color:var(--warn)}
.failures{font-size:12.5px;color:var(--fail);margin:2px 0 0;padding-left:18px}
.calls{--cols:1.2em 10.4em minmax(9em,1.5fr) 5em 4.6em 3.6em 5.6em 5.6em 4.6em 3.6em 7em;
background:var(--card);border:1px solid var(--line);border-radius:8px;font-size:14px}
.calls.grouped{--cols:1.2em 10.4em minmax(9em,1.3fr) minmax(6em,1fr) 5em 4.6em 3.6em 5.6em
5.6em 4.6em 3.6em 7em}
.row{display:grid;grid-template-columns:var(--cols);gap:0 10px;align-items:center;
padding:7px 12px}
.head{background:#f3f4f6;font-weight:600;font-size:13px;border-radius:8px 8px 0 0}
.head span[title]{text-decoration:underline dotted #9ca3af;cursor:help}
.row .num{text-align:right;font-variant-numeric:tabular-nums}
details.call{border-top:1px solid var(--line)}
details.call>summary{list-style:none;cursor:pointer}
details.call>summary::-webkit-details-marker{display:none}
details.call>summary:hover{background:#f9fafb}
details.call[open]>summary{background:#eef2ff}
.row .st{font-weight:700}.st.ok{color:var(--pass)}.st.no{color:var(--fail)}
.st.err{color:#d97706}.st.none{color:#9ca3af}
.cell{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.body{padding:6px 18px 18px 38px;border-top:1px dashed var(--line);background:#fcfcfd}
.body table{width:100%}
.transcript td:first-child{width:5.5em;color:var(--muted);white-space:nowrap}
.transcript td.num{width:7em}
.said{color:var(--caller);font-weight:600;font-size:12px;display:block}
.reply{color:#b45309;font-weight:600;font-size:12px;display:block}
.aside{color:var(--muted);font-size:12.5px}span.aside{display:block}
.players{display:flex;flex-wrap:wrap;gap:12px 28px;margin:10px 0}
.players figure{margin:0}.players figcaption{font-size:12.5px;color:var(--muted)}
audio{width:330px;height:36px}
svg.timeline{width:100%;max-width:900px;height:auto;display:block;margin:6px 0;
background:#fff;border:1px solid var(--line);border-radius:6px}
svg .lane{font-size:12px;fill:#374151;font-family:system-ui,sans-serif}
svg .tick{font-size:10px;fill:#6b7280;text-anchor:middle;font-family:system-ui,sans-serif}
svg .axis{stroke:#9ca3af;stroke-width:1}
svg rect.said{fill:var(--caller)}svg rect.bot{fill:var(--bot)}
svg line.gap{stroke:#111827;stroke-width:1.2;stroke-dasharray:3 2}
svg text.gap{font-size:11px;fill:#111827;text-anchor:middle;font-family:system-ui,sans-serif}
.bars{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;
max-width:900px}
.bar{display:flex;align-items:center;gap:12px;margin:6px 0}
.bar .name{width:11em;white-space:nowrap;font-size:13.5px;overflow:hidden;text-overflow:ellipsis}
.bar .stack{flex:1;display:flex;height:24px;border-radius:4px;overflow:hidden;background:#f3f4f6}
.bar .stack span{display:block;height:100%}
.bar .total{width:5.5em;font-variant-numeric:tabular-nums;font-size:13.5px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12.5px;color:#374151;margin:4px 0}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
img.plot{max-width:100%;background:#fff;border:1px solid var(--line);border-radius:8px}
dl.glossary{display:grid;grid-template-columns:15em 1fr;gap:6px 18px;font-size:14px;
max-width:980px}
dl.glossary dt{font-weight:600}dl.glossary dd{margin:0;color:#374151}
footer{margin-top:40px;color:var(--muted);font-size:12.5px}
"""
