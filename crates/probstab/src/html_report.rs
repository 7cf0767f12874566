//! The HTML report: one self-contained page (inline CSS, inline JS, inline
//! SVG figures) that shows a results directory at a glance. Pure `std`: the
//! caller gathers the data into a [`ReportPage`] and writes [`render`]'s text.
//!
//! Nothing on the page refers to anything outside it: no `<link>`, no
//! `src=`, no `url(...)`, no font file, no http(s) address. The only
//! addresses in a page are the XML namespaces that SVG documents carry.
//!
//! Every text from the data is escaped. The SVG documents are trusted markup
//! (written by our plotting library) and are inserted as they are, less any
//! leading XML declaration, doctype or comment. The summary table is written
//! here, as HTML; the script only sorts and filters the rows already in the
//! DOM, and embeds no data.

use std::fmt::Write as _;

/// Everything the page shows, as plain data.
pub struct ReportPage {
    /// Page title, e.g. the experiment name.
    pub title: String,
    /// The results directory, as shown.
    pub dir: String,
    /// The resolved experiment TOML text ("the experiment as run").
    pub experiment: String,
    /// (label, count) by status, in order: e.g. ("ok", 10), ("diverged", 2), ("failed", 1), ("running", 1), ("missing", 3).
    pub counts: Vec<(String, usize)>,
    pub total: usize,
    /// Whether every cell is complete; while false the page reloads itself every `reload_seconds`.
    pub complete: bool,
    pub reload_seconds: u32,
    /// Lines about provenance (builds, hosts, commands), shown as a list.
    pub provenance: Vec<String>,
    /// When the page was written, as text.
    pub generated: String,
    /// Plots: (name, SVG document text as written by our plotting library; starts with `<?xml ...?>` or `<svg`). Embed inline (strip any XML declaration/doctype), each in a <figure> with a <figcaption> of its name.
    pub plots: Vec<(String, String)>,
    /// Trace figures, same form as `plots` (already downsampled by the caller).
    pub traces: Vec<(String, String)>,
    /// The summary table: header and rows of cell text (all strings).
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// How many rows there were before the caller capped `rows` (show "showing N of M" when larger).
    pub total_rows: usize,
}

/// The whole page: one HTML document, no external resource of any kind (no CDN, no http(s) URL, no font file, no <link>, no external <script src>).
pub fn render(page: &ReportPage) -> String {
    let svg_bytes: usize = page
        .plots
        .iter()
        .chain(&page.traces)
        .map(|(_, s)| s.len())
        .sum();
    let mut out = String::with_capacity(16 * 1024 + svg_bytes + page.experiment.len() * 2);
    // A refresh of 0 s would reload without pause; at least 1 s.
    let reload = page.reload_seconds.max(1);

    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if !page.complete {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{reload}\">");
    }
    let _ = writeln!(
        out,
        "<title>{} \u{2014} probstab report</title>",
        esc(&page.title)
    );
    out.push_str("<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");

    header(&mut out, page, reload);
    out.push_str("<pre id=\"script-errors\" hidden></pre>\n");
    out.push_str(
        "<nav><a href=\"#plots\">plots</a> <a href=\"#traces\">traces</a> \
         <a href=\"#summary\">summary</a> <a href=\"#counts\">counts</a> \
         <a href=\"#provenance\">provenance</a> <a href=\"#experiment\">experiment</a></nav>\n",
    );
    out.push_str("<main>\n");
    figures(&mut out, "plots", "Plots", "No plots.", &page.plots);
    figures(&mut out, "traces", "Traces", "No traces.", &page.traces);
    summary(&mut out, page);
    counts(&mut out, page);
    provenance(&mut out, page);
    out.push_str(
        "<section id=\"experiment\">\n<h2>The experiment as run</h2>\n<pre class=\"toml\">",
    );
    out.push_str(&esc(&page.experiment));
    out.push_str("</pre>\n</section>\n");
    out.push_str("</main>\n");

    // Two scripts: the first only installs the error handlers, so that even a
    // syntax error in the second is reported in #script-errors.
    out.push_str("<script>\n");
    out.push_str(SCRIPT_ERRORS);
    out.push_str("</script>\n<script>\n");
    out.push_str(SCRIPT_TABLE);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// The header area: title, directory, counts (failed ones prominent), and the
/// "incomplete" banner.
fn header(out: &mut String, page: &ReportPage, reload: u32) {
    out.push_str("<header>\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(&page.title));
    let _ = writeln!(
        out,
        "<p class=\"meta\">results <code>{}</code> &middot; written {}</p>",
        esc(&page.dir),
        esc(&page.generated)
    );
    out.push_str("<p class=\"badges\" id=\"badges\">");
    let mut saw_failed = false;
    for (label, n) in &page.counts {
        let failed = label.trim().eq_ignore_ascii_case("failed");
        saw_failed |= failed;
        let bad = if failed && *n > 0 { " bad" } else { "" };
        let _ = write!(
            out,
            "<span class=\"badge st-{}{bad}\">{} <b>{n}</b></span> ",
            class_name(label),
            esc(label)
        );
    }
    if !saw_failed {
        out.push_str("<span class=\"badge st-failed\">failed <b>0</b></span> ");
    }
    let _ = write!(
        out,
        "<span class=\"badge total\">total <b>{}</b></span>",
        page.total
    );
    out.push_str("</p>\n");
    if page.complete {
        out.push_str("<p class=\"banner done\" id=\"banner\">grid complete</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p class=\"banner\" id=\"banner\" role=\"status\">grid incomplete: this page reloads every {reload} s</p>"
        );
    }
    out.push_str("</header>\n");
}

fn summary(out: &mut String, page: &ReportPage) {
    out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    if page.header.is_empty() {
        out.push_str("<p class=\"none\">No summary table.</p>\n</section>\n");
        return;
    }
    let n = page.rows.len();
    let total = page.total_rows.max(n);
    out.push_str("<div class=\"tools\"><label>filter <input type=\"search\" id=\"summary-filter\" placeholder=\"text in any cell\" autocomplete=\"off\"></label> ");
    if total > n {
        let _ = write!(
            out,
            "<span id=\"summary-count\">showing {n} of {total} rows</span>"
        );
    } else {
        let _ = write!(out, "<span id=\"summary-count\">{n} rows</span>");
    }
    out.push_str(" <span id=\"summary-shown\"></span></div>\n");

    let find = |name: &str| {
        page.header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let status_col = find("status");
    let error_col = find("error");

    out.push_str("<div class=\"table-wrap\">\n<table id=\"summary-table\">\n<thead><tr>");
    for h in &page.header {
        let _ = write!(
            out,
            "<th scope=\"col\" tabindex=\"0\" aria-sort=\"none\" title=\"sort\">{}<span class=\"arrow\" aria-hidden=\"true\"></span></th>",
            esc(h)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let width = page.header.len();
    for row in &page.rows {
        let status = status_col
            .and_then(|i| row.get(i))
            .map(|s| s.trim().to_ascii_lowercase());
        match status.as_deref() {
            Some("failed") => out.push_str("<tr class=\"failed\">"),
            Some("diverged") => out.push_str("<tr class=\"diverged\">"),
            _ => out.push_str("<tr>"),
        }
        for i in 0..width.max(row.len()) {
            let text = row.get(i).map(String::as_str).unwrap_or("");
            if Some(i) == error_col {
                let _ = write!(out, "<td class=\"wrap\">{}</td>", esc(text));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(text));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn figures(out: &mut String, id: &str, heading: &str, none: &str, figs: &[(String, String)]) {
    let _ = writeln!(out, "<section id=\"{id}\">\n<h2>{heading}</h2>");
    if figs.is_empty() {
        let _ = writeln!(out, "<p class=\"none\">{none}</p>");
    } else {
        out.push_str("<div class=\"figs\">\n");
        for (name, svg) in figs {
            out.push_str("<figure>\n");
            out.push_str(&embed_svg(svg));
            let _ = writeln!(out, "\n<figcaption>{}</figcaption>\n</figure>", esc(name));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn counts(out: &mut String, page: &ReportPage) {
    out.push_str("<section id=\"counts\">\n<h2>Cells by status</h2>\n<table class=\"counts\">\n");
    out.push_str("<thead><tr><th scope=\"col\">status</th><th scope=\"col\">cells</th></tr></thead>\n<tbody>\n");
    for (label, n) in &page.counts {
        let _ = writeln!(
            out,
            "<tr class=\"st-{}\"><td>{}</td><td class=\"num\">{n}</td></tr>",
            class_name(label),
            esc(label)
        );
    }
    let _ = writeln!(
        out,
        "</tbody>\n<tfoot><tr><th scope=\"row\">total</th><td class=\"num\">{}</td></tr></tfoot>\n</table>\n</section>",
        page.total
    );
}

fn provenance(out: &mut String, page: &ReportPage) {
    out.push_str("<section id=\"provenance\">\n<h2>Provenance</h2>\n");
    if page.provenance.is_empty() {
        out.push_str("<p class=\"none\">No provenance recorded.</p>\n");
    } else {
        out.push_str("<ul>\n");
        for line in &page.provenance {
            let _ = writeln!(out, "<li><code>{}</code></li>", esc(line));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// `s` as HTML text or attribute value.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A status label as a CSS class fragment: lower-case ASCII letters, digits
/// and `-`.
fn class_name(label: &str) -> String {
    label
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The SVG document as inline markup: without a leading BOM, XML declaration,
/// doctype or comments, and with a `viewBox` added from `width`/`height` when
/// it has none (so that CSS can scale it). Text that is no SVG document is
/// shown escaped, as text.
fn embed_svg(svg: &str) -> String {
    let body = strip_prolog(svg);
    if !body.starts_with("<svg") {
        return format!(
            "<pre class=\"not-svg\">not an SVG document:\n{}</pre>",
            esc(&body.chars().take(2000).collect::<String>())
        );
    }
    let body = body.trim_end();
    let Some(tag_end) = tag_end(body) else {
        return body.to_string();
    };
    let tag = &body[..tag_end];
    if attr(tag, "viewBox").is_some() {
        return body.to_string();
    }
    let size = |name| {
        attr(tag, name).and_then(|v| {
            let v = v.trim();
            let v = v.strip_suffix("px").unwrap_or(v).trim();
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Some(v.to_string()),
                _ => None,
            }
        })
    };
    match (size("width"), size("height")) {
        (Some(w), Some(h)) => format!("<svg viewBox=\"0 0 {w} {h}\"{}", &body[4..]),
        _ => body.to_string(),
    }
}

/// `svg` from its first element on: skips a BOM, whitespace, `<?...?>`
/// processing instructions (the XML declaration), `<!DOCTYPE ...>` (with an
/// internal subset) and `<!-- -->` comments.
fn strip_prolog(svg: &str) -> &str {
    let mut s = svg.trim_start_matches('\u{feff}');
    loop {
        s = s.trim_start();
        if s.starts_with("<?") {
            match s.find("?>") {
                Some(i) => s = &s[i + 2..],
                None => return "",
            }
        } else if s.starts_with("<!--") {
            match s.find("-->") {
                Some(i) => s = &s[i + 3..],
                None => return "",
            }
        } else if s.len() >= 9 && s.as_bytes()[..9].eq_ignore_ascii_case(b"<!doctype") {
            // Up to the '>' outside quotes and outside an internal subset.
            let (mut quote, mut depth, mut end) = (None, 0usize, None);
            for (i, c) in s.char_indices().skip(1) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '[') => depth += 1,
                    (None, ']') => depth = depth.saturating_sub(1),
                    (None, '>') if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            match end {
                Some(i) => s = &s[i + 1..],
                None => return "",
            }
        } else {
            return s;
        }
    }
}

/// The byte index of the `>` that ends the start tag at the front of `s`.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in the start tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = tag[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = tag[..at].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let value = &rest[1..];
        return value.find(q).map(|end| &value[..end]);
    }
    None
}

const STYLE: &str = r##":root {
  --fg: #1d2125; --muted: #5f6b76; --bg: #ffffff; --panel: #f5f7f9;
  --line: #d5dbe1; --zebra: #f3f6f9; --head: #e8edf2;
  --bad: #b3261e; --bad-bg: #fde7e6; --warn-bg: #fff3d6; --ok: #1e7a3c;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e3e6e9; --muted: #9aa5b1; --bg: #16191c; --panel: #1f2327;
    --line: #39414a; --zebra: #1c2024; --head: #262b31;
    --bad: #ff8a80; --bad-bg: #4a1f1c; --warn-bg: #3d3318; --ok: #7ad68f;
  }
}
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 15px; line-height: 1.45; }
body { margin: 0 auto; padding: 0 1.25rem 3rem; max-width: 1400px; color: var(--fg); background: var(--bg); }
code, pre, td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.9em; }
td { font-size: 0.85rem; }
h1 { margin: 1rem 0 0.2rem; font-size: 1.6rem; overflow-wrap: anywhere; }
h2 { margin: 2rem 0 0.6rem; font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
header { padding-bottom: 0.4rem; }
.meta { margin: 0 0 0.5rem; color: var(--muted); overflow-wrap: anywhere; }
.badges { display: flex; flex-wrap: wrap; gap: 0.4rem; margin: 0.4rem 0; }
.badge { border: 1px solid var(--line); border-radius: 999px; padding: 0.1rem 0.7rem; background: var(--panel); }
.badge.st-ok b { color: var(--ok); }
.badge.bad { border-color: var(--bad); background: var(--bad-bg); color: var(--bad); font-weight: 600; }
.badge.total { font-weight: 600; }
.banner { margin: 0.5rem 0; padding: 0.45rem 0.8rem; border-radius: 6px; background: var(--warn-bg); border: 1px solid var(--line); }
.banner.done { background: var(--panel); color: var(--muted); }
#script-errors { color: var(--bad); background: var(--bad-bg); padding: 0.5rem; white-space: pre-wrap; }
nav { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0.4rem 0; border-top: 1px solid var(--line); border-bottom: 1px solid var(--line); }
nav a, a { color: inherit; }
.none { color: var(--muted); font-style: italic; }
pre.toml { background: var(--panel); border: 1px solid var(--line); padding: 0.75rem; overflow: auto; max-height: 70vh; white-space: pre; }
.tools { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin-bottom: 0.5rem; color: var(--muted); }
.tools input { font: inherit; padding: 0.2rem 0.4rem; min-width: 18rem; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 4px; }
.table-wrap { max-height: 80vh; overflow: auto; border: 1px solid var(--line); }
table { border-collapse: separate; border-spacing: 0; }
#summary-table { width: 100%; }
#summary-table th, #summary-table td { padding: 0.2rem 0.6rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; vertical-align: top; }
#summary-table thead th { position: sticky; top: 0; z-index: 1; background: var(--head); cursor: pointer; user-select: none; }
#summary-table thead th:hover, #summary-table thead th:focus { text-decoration: underline; }
#summary-table thead th .arrow:empty::after { content: " \2195"; opacity: 0.35; }
#summary-table:not(.js) tbody tr:nth-child(even) td, #summary-table.js tbody tr.alt td { background: var(--zebra); }
#summary-table tbody tr.diverged td { background: var(--warn-bg); }
#summary-table tbody tr.failed td { background: var(--bad-bg); color: var(--bad); }
#summary-table td.wrap { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 20rem; max-width: 40rem; }
table.counts th, table.counts td { padding: 0.15rem 0.8rem; border-bottom: 1px solid var(--line); text-align: left; }
table.counts td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.counts tfoot th, table.counts tfoot td { font-weight: 600; border-bottom: none; }
table.counts tr.st-failed td { color: var(--bad); }
.figs { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; max-width: 900px; width: 100%; }
figure svg { display: block; max-width: 100%; height: auto; background: #ffffff; }
figcaption { margin-top: 0.3rem; color: var(--muted); font-size: 0.9rem; overflow-wrap: anywhere; }
pre.not-svg { color: var(--bad); white-space: pre-wrap; }
#provenance ul { padding-left: 1.2rem; }
#provenance li { overflow-wrap: anywhere; }
"##;

/// Installs the error handlers; first, so that later errors show.
const SCRIPT_ERRORS: &str = r##"(function () {
  function report(msg) {
    try {
      if (document.body) document.body.dataset.errors = "1";
      var el = document.getElementById("script-errors");
      if (el) { el.hidden = false; el.textContent += String(msg) + "\n"; }
    } catch (e) { /* nothing more to do */ }
  }
  window.onerror = function (message, source, line, col, error) {
    var where = line ? " (line " + line + ":" + col + ")" : "";
    var stack = error && error.stack ? "\n" + error.stack : "";
    report(String(message) + where + stack);
    return false;
  };
  window.addEventListener("unhandledrejection", function (ev) {
    var r = ev.reason;
    report("unhandled rejection: " + (r && r.stack ? r.stack : String(r)));
  });
})();
"##;

/// Sorting and filtering of #summary-table, on the rows already in the DOM.
/// With `#selftest` in the address it clicks every header twice and filters
/// once, and records the outcome in `data-selftest` on <body>.
const SCRIPT_TABLE: &str = r##"(function () {
  "use strict";
  var NUM = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
  var INF = /^([+-]?)inf(?:inity)?$/i;
  var NAN = /^[+-]?nan$/i;
  var collator = (typeof Intl !== "undefined" && Intl.Collator)
    ? new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }) : null;

  // [rank, value]; ranks keep their order whichever the direction:
  // 0 number (incl. inf), 1 text, 2 NaN, 3 empty.
  function sortKey(text) {
    var t = text.trim();
    if (t === "") return [3, 0];
    if (NUM.test(t)) return [0, parseFloat(t)];
    var m = INF.exec(t);
    if (m) return [0, m[1] === "-" ? -Infinity : Infinity];
    if (NAN.test(t)) return [2, 0];
    return [1, t];
  }
  function compareKeys(a, b, dir) {
    if (a[0] !== b[0]) return a[0] - b[0];
    var c = 0;
    if (a[0] === 0) c = a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
    else if (a[0] === 1) c = collator ? collator.compare(a[1], b[1]) : (a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0));
    return dir * c;
  }

  var table = document.getElementById("summary-table");
  if (!table || !table.tHead || !table.tBodies.length) {
    document.body.dataset.ready = "1";
    return;
  }
  var tbody = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var filter = document.getElementById("summary-filter");
  var shown = document.getElementById("summary-shown");
  var state = { col: -1, dir: 1 };
  var saving = true;
  var store = null;
  try { store = window.sessionStorage; } catch (e) { store = null; }
  var KEY = "probstab-report:" + location.pathname;

  function cellText(row, col) {
    var c = row.cells[col];
    return c ? c.textContent : "";
  }
  function restripe() {
    var k = 0;
    for (var i = 0; i < tbody.rows.length; i++) {
      var r = tbody.rows[i];
      if (r.hidden) continue;
      r.classList.toggle("alt", k % 2 === 1);
      k++;
    }
  }
  function save() {
    if (!store || !saving) return;
    try {
      store.setItem(KEY, JSON.stringify({ col: state.col, dir: state.dir, filter: filter ? filter.value : "" }));
    } catch (e) { /* storage may be refused */ }
  }
  function sortBy(col, dir) {
    var rows = Array.prototype.slice.call(tbody.rows);
    var keyed = rows.map(function (r, i) { return { r: r, k: sortKey(cellText(r, col)), i: i }; });
    keyed.sort(function (a, b) { return compareKeys(a.k, b.k, dir) || (a.i - b.i); });
    var frag = document.createDocumentFragment();
    for (var i = 0; i < keyed.length; i++) frag.appendChild(keyed[i].r);
    tbody.appendChild(frag);
    state.col = col;
    state.dir = dir;
    for (var h = 0; h < headers.length; h++) {
      var arrow = headers[h].querySelector(".arrow");
      if (h === col) {
        headers[h].setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        if (arrow) arrow.textContent = dir > 0 ? " \u25B2" : " \u25BC";
      } else {
        headers[h].setAttribute("aria-sort", "none");
        if (arrow) arrow.textContent = "";
      }
    }
    restripe();
    save();
  }
  function toggle(col) {
    sortBy(col, state.col === col ? -state.dir : 1);
  }
  function applyFilter() {
    var needle = filter ? filter.value.trim().toLowerCase() : "";
    var rows = tbody.rows, n = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = needle === "" || rows[i].textContent.toLowerCase().indexOf(needle) !== -1;
      rows[i].hidden = !hit;
      if (hit) n++;
    }
    if (shown) shown.textContent = needle === "" ? "" : "(" + n + " match the filter)";
    restripe();
    save();
  }

  Array.prototype.forEach.call(headers, function (th, col) {
    th.addEventListener("click", function () { toggle(col); });
    th.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(col); }
    });
  });
  if (filter) filter.addEventListener("input", applyFilter);
  table.classList.add("js");

  // Keep the sort and filter across the automatic reloads.
  var saved = null;
  try { saved = store ? JSON.parse(store.getItem(KEY) || "null") : null; } catch (e) { saved = null; }
  if (saved && typeof saved === "object") {
    if (filter && typeof saved.filter === "string") filter.value = saved.filter;
    if (typeof saved.col === "number" && saved.col >= 0 && saved.col < headers.length) {
      sortBy(saved.col, saved.dir === -1 ? -1 : 1);
    }
  }
  applyFilter();

  function ordered(col, dir) {
    var rows = tbody.rows;
    for (var i = 1; i < rows.length; i++) {
      if (compareKeys(sortKey(cellText(rows[i - 1], col)), sortKey(cellText(rows[i], col)), dir) > 0) return false;
    }
    return true;
  }
  function selfTest() {
    saving = false;
    var problems = [];
    for (var h = 0; h < headers.length; h++) {
      headers[h].click();
      if (!ordered(h, 1) || headers[h].getAttribute("aria-sort") !== "ascending") problems.push("asc " + h);
      headers[h].click();
      if (!ordered(h, -1) || headers[h].getAttribute("aria-sort") !== "descending") problems.push("desc " + h);
    }
    if (filter && tbody.rows.length) {
      var needle = cellText(tbody.rows[0], 0).trim();
      filter.value = needle;
      filter.dispatchEvent(new Event("input"));
      var visible = 0;
      for (var i = 0; i < tbody.rows.length; i++) {
        var r = tbody.rows[i];
        if (r.hidden) continue;
        visible++;
        if (r.textContent.toLowerCase().indexOf(needle.toLowerCase()) === -1) problems.push("filter kept row " + i);
      }
      if (visible === 0) problems.push("filter hid every row");
      filter.value = "";
      filter.dispatchEvent(new Event("input"));
      for (var j = 0; j < tbody.rows.length; j++) if (tbody.rows[j].hidden) problems.push("cleared filter hid row " + j);
    }
    document.body.dataset.selftest = problems.length ? "fail: " + problems.join(", ") : "ok";
  }
  if (location.hash === "#selftest") selfTest();

  document.body.dataset.ready = "1";
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> ReportPage {
        ReportPage {
            title: "sweep".into(),
            dir: "results/sweep".into(),
            experiment: "name = \"sweep\"\n[grid]\nn = [1, 2]\n".into(),
            counts: vec![
                ("ok".into(), 10),
                ("diverged".into(), 2),
                ("failed".into(), 1),
                ("running".into(), 1),
                ("missing".into(), 3),
            ],
            total: 17,
            complete: true,
            reload_seconds: 30,
            provenance: vec![
                "build abc123 on host-a".into(),
                "probstab run sweep.toml".into(),
            ],
            generated: "2025-01-01 12:00:00".into(),
            plots: vec![],
            traces: vec![],
            header: vec![
                "cell".into(),
                "status".into(),
                "loss".into(),
                "error".into(),
            ],
            rows: vec![
                vec!["n=1".into(), "ok".into(), "0.5".into(), "".into()],
                vec![
                    "n=2".into(),
                    "failed".into(),
                    "nan".into(),
                    "panic: boom".into(),
                ],
                vec!["n=3".into(), "diverged".into(), "inf".into(), "".into()],
            ],
            total_rows: 3,
        }
    }

    const SVG_NS: &str = "http://www.w3.org/2000/svg";
    const XLINK_NS: &str = "http://www.w3.org/1999/xlink";

    fn svg(label: &str) -> String {
        format!(
            "<svg width=\"200\" height=\"100\" viewBox=\"0 0 200 100\" xmlns=\"{SVG_NS}\" xmlns:xlink=\"{XLINK_NS}\">\
             <rect x=\"0\" y=\"0\" width=\"200\" height=\"100\" fill=\"#eef\"/>\
             <text x=\"10\" y=\"50\">{label}</text></svg>"
        )
    }

    /// The byte offsets of every occurrence of `needle` in `hay`.
    fn occurrences(hay: &str, needle: &str) -> Vec<usize> {
        hay.match_indices(needle).map(|(i, _)| i).collect()
    }

    #[test]
    fn script_in_experiment_and_cells_is_escaped() {
        let mut p = page();
        p.title = "a & b's <script>".into();
        p.experiment = "name = \"<script>alert('x')</script>\"\n".into();
        p.rows[0][0] = "<script>alert(1)</script>".into();
        p.rows[1][3] = "error: \"<b>\" & more".into();
        p.provenance.push("<img onerror=x>".into());
        let html = render(&p);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"));
        assert!(
            html.contains("name = &quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;")
        );
        assert!(html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
        assert!(html.contains("<td class=\"wrap\">error: &quot;&lt;b&gt;&quot; &amp; more</td>"));
        assert!(html.contains("<h1>a &amp; b&#39;s &lt;script&gt;</h1>"));
        // Only our own two scripts.
        assert_eq!(occurrences(&html, "<script").len(), 2);
        assert_eq!(occurrences(&html, "</script>").len(), 2);
    }

    #[test]
    fn refresh_meta_iff_incomplete() {
        let mut p = page();
        p.complete = true;
        let html = render(&p);
        assert!(!html.contains("http-equiv"));
        assert!(!html.contains("reloads every"));
        assert!(html.contains("grid complete"));

        p.complete = false;
        p.reload_seconds = 15;
        let html = render(&p);
        assert_eq!(
            occurrences(&html, "<meta http-equiv=\"refresh\" content=\"15\">").len(),
            1
        );
        assert!(html.contains("grid incomplete: this page reloads every 15 s"));
        // The meta is in <head>.
        assert!(html.find("http-equiv").unwrap() < html.find("</head>").unwrap());

        p.reload_seconds = 0;
        assert!(render(&p).contains("content=\"1\""));
    }

    #[test]
    fn xml_declaration_doctype_and_comments_are_stripped_from_svgs() {
        let mut p = page();
        let doc = format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
             <!-- written by plotters -->\n\
             <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\" [ <!ENTITY e \"x>y\"> ]>\n{}",
            svg("one")
        );
        p.plots = vec![("loss <heatmap>".into(), doc)];
        p.traces = vec![(
            "trace".into(),
            format!("<?xml version=\"1.0\"?>{}", svg("two")),
        )];
        let html = render(&p);
        assert!(!html.contains("<?xml"));
        assert!(!html.contains("svg11.dtd"));
        assert!(!html.contains("ENTITY"));
        assert!(!html.contains("written by plotters"));
        assert!(!html.contains('\u{feff}'));
        assert!(html.contains("<figure>\n<svg width=\"200\""));
        assert!(html.contains("<figcaption>loss &lt;heatmap&gt;</figcaption>"));
        assert!(html.contains(">two</text></svg>"));
        assert_eq!(occurrences(&html, "<figure>").len(), 2);
        assert_eq!(occurrences(&html, "</figure>").len(), 2);
        assert!(html.contains("figure svg { display: block; max-width: 100%; height: auto;"));
    }

    #[test]
    fn svg_without_viewbox_gets_one_from_its_size() {
        let with = embed_svg(&svg("a"));
        assert_eq!(occurrences(&with, "viewBox").len(), 1);
        let without = embed_svg(
            "<svg width=\"640px\" height='480' xmlns=\"http://www.w3.org/2000/svg\"><g/></svg>\n",
        );
        assert!(
            without.starts_with("<svg viewBox=\"0 0 640 480\" width=\"640px\""),
            "{without}"
        );
        let relative = embed_svg("<svg width=\"100%\" height=\"50%\"><g/></svg>");
        assert_eq!(relative, "<svg width=\"100%\" height=\"50%\"><g/></svg>");
        let not_svg = embed_svg("<html><script>x</script></html>");
        assert!(not_svg.starts_with("<pre class=\"not-svg\">"));
        assert!(!not_svg.contains("<script>"));
    }

    #[test]
    fn no_address_in_a_page_without_svgs() {
        let mut p = page();
        p.complete = true;
        let html = render(&p);
        assert!(
            !html.to_ascii_lowercase().contains("http"),
            "an address in the page"
        );
        for bad in ["<link", " src=", "url(", "@import", "<iframe", "<img"] {
            assert!(!html.contains(bad), "{bad}");
        }
        // Incomplete: the only "http" is the refresh meta's attribute name.
        p.complete = false;
        let html = render(&p);
        let lower = html.to_ascii_lowercase();
        let all = occurrences(&lower, "http");
        assert_eq!(all, occurrences(&lower, "http-equiv="));
        assert_eq!(all.len(), 1);
        assert!(!lower.contains("http://") && !lower.contains("https://"));
    }

    #[test]
    fn the_only_addresses_with_svgs_are_their_namespaces() {
        let mut p = page();
        p.complete = false;
        p.plots = vec![("a".into(), format!("<?xml version=\"1.0\"?>\n{}", svg("a")))];
        p.traces = vec![("b".into(), svg("b"))];
        let html = render(&p);
        for i in occurrences(&html.to_ascii_lowercase(), "http") {
            let rest = &html[i..];
            assert!(
                rest.starts_with(SVG_NS)
                    || rest.starts_with(XLINK_NS)
                    || rest.starts_with("http-equiv="),
                "unexpected address: {}",
                &rest[..rest.len().min(60)]
            );
        }
        assert!(!html.contains("https://"));
    }

    #[test]
    fn failed_rows_carry_class_failed() {
        let mut p = page();
        // The status column need not come first, and case does not matter.
        p.header = vec!["cell".into(), "loss".into(), "Status".into()];
        p.rows = vec![
            vec!["a".into(), "1".into(), "ok".into()],
            vec!["b".into(), "2".into(), "failed".into()],
            vec!["c".into(), "3".into(), " FAILED ".into()],
            vec!["failed".into(), "4".into(), "diverged".into()],
            vec!["e".into()],
        ];
        p.total_rows = 5;
        let html = render(&p);
        assert_eq!(occurrences(&html, "<tr class=\"failed\">").len(), 2);
        assert!(html.contains("<tr class=\"failed\"><td>b</td>"));
        assert!(html.contains("<tr class=\"diverged\"><td>failed</td>"));
        assert!(html.contains("<tr><td>a</td>"));
        // A short row is padded to the header's width.
        assert!(html.contains("<tr><td>e</td><td></td><td></td></tr>"));
        // The error column is shown wrapped, the others not.
        let html = render(&page());
        assert!(html.contains("<td class=\"wrap\">panic: boom</td>"));
        assert_eq!(occurrences(&html, "<td class=\"wrap\">").len(), 3);
    }

    #[test]
    fn showing_n_of_m_when_capped() {
        let mut p = page();
        p.total_rows = 500;
        let html = render(&p);
        assert!(html.contains("showing 3 of 500 rows"));
        p.total_rows = 3;
        let html = render(&p);
        assert!(!html.contains("showing"));
        assert!(html.contains("<span id=\"summary-count\">3 rows</span>"));
    }

    #[test]
    fn sections_table_and_header_area() {
        let html = render(&page());
        for id in [
            "experiment",
            "counts",
            "provenance",
            "plots",
            "traces",
            "summary",
        ] {
            assert_eq!(
                occurrences(&html, &format!("<section id=\"{id}\">")).len(),
                1,
                "{id}"
            );
        }
        assert_eq!(
            occurrences(&html, "<section").len(),
            occurrences(&html, "</section>").len()
        );
        assert_eq!(
            occurrences(&html, "<table").len(),
            occurrences(&html, "</table>").len()
        );
        assert!(
            html.starts_with(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
            )
        );
        assert!(html.contains("<table id=\"summary-table\">"));
        assert!(html.contains("<input type=\"search\" id=\"summary-filter\""));
        assert_eq!(
            occurrences(&html, "<th scope=\"col\" tabindex=\"0\"").len(),
            4
        );
        assert!(html.contains(">loss<span class=\"arrow\""));
        assert!(html.contains("<p class=\"none\">No plots.</p>"));
        assert!(html.contains("<p class=\"none\">No traces.</p>"));
        assert!(html.contains("<pre id=\"script-errors\" hidden></pre>"));
        assert!(html.contains("<li><code>build abc123 on host-a</code></li>"));
        assert!(html.contains("<tfoot><tr><th scope=\"row\">total</th><td class=\"num\">17</td>"));
        // Counts, with the failed one marked, at a glance in the header.
        let head = &html[..html.find("</header>").unwrap()];
        assert!(head.contains("<span class=\"badge st-failed bad\">failed <b>1</b></span>"));
        assert!(head.contains("ok <b>10</b>"));
        assert!(head.contains("total <b>17</b>"));
        // A grid without the failed label still shows "failed 0".
        let mut p = page();
        p.counts.retain(|(l, _)| l != "failed");
        let html = render(&p);
        assert!(html.contains("<span class=\"badge st-failed\">failed <b>0</b></span>"));
        // The scripts come last in <body>, the error handlers first.
        let errors = html.find("window.onerror").unwrap();
        assert!(errors < html.find("getElementById(\"summary-table\")").unwrap());
        assert!(html.find("<script>").unwrap() > html.find("</main>").unwrap());
        assert!(html.trim_end().ends_with("</script>\n</body>\n</html>"));
    }

    #[test]
    fn no_header_no_table() {
        let mut p = page();
        p.header.clear();
        p.rows.clear();
        p.total_rows = 0;
        let html = render(&p);
        assert!(!html.contains("summary-table\">"));
        assert!(html.contains("No summary table."));
    }

    #[test]
    fn scripts_are_constant_and_safe_to_inline() {
        for s in [SCRIPT_ERRORS, SCRIPT_TABLE] {
            assert!(!s.to_ascii_lowercase().contains("</script"));
            assert!(!s.to_ascii_lowercase().contains("<!--"));
            assert!(!s.contains("http"));
        }
        assert!(SCRIPT_ERRORS.trim_start().starts_with("(function () {"));
        assert!(SCRIPT_ERRORS.contains("unhandledrejection"));
        assert!(SCRIPT_ERRORS.contains("document.body.dataset.errors = \"1\""));
        assert!(SCRIPT_TABLE.contains("document.body.dataset.ready = \"1\""));
        assert!(!STYLE.contains("url(") && !STYLE.contains("@import") && !STYLE.contains("http"));
    }

    /// A sample page for a browser: `/tmp/report-sample.html`, or the path in
    /// `REPORT_SAMPLE`. 30 rows, one failed, small inline SVGs, incomplete.
    #[test]
    #[ignore]
    fn write_sample_page() {
        let statuses = ["ok", "ok", "diverged", "ok", "running"];
        let mut rows: Vec<Vec<String>> = (0..30)
            .map(|i| {
                let loss = match i {
                    3 => "inf".to_string(),
                    4 => "-inf".to_string(),
                    5 => "nan".to_string(),
                    6 => "1.5e-3".to_string(),
                    7 => String::new(),
                    _ => format!("{}", (i * 37 % 23) as f64 / 7.0),
                };
                vec![
                    format!("n={i}"),
                    statuses[i % statuses.len()].to_string(),
                    loss,
                    format!("{}", 30 - i),
                    String::new(),
                ]
            })
            .collect();
        rows[11][1] = "failed".into();
        rows[11][4] = "thread 'main' panicked at <src/lib.rs:1>: a long message that should wrap across several lines in the error column of the table, \"quoted\" & escaped".into();
        let p = ReportPage {
            title: "sample <sweep>".into(),
            dir: "/tmp/results/sample".into(),
            experiment: "name = \"sample\"\n# a <script>alert(1)</script> in a comment\n[grid]\nn = [0, 1, 2]\n".into(),
            counts: vec![
                ("ok".into(), 17),
                ("diverged".into(), 6),
                ("failed".into(), 1),
                ("running".into(), 6),
                ("missing".into(), 0),
            ],
            total: 30,
            complete: false,
            reload_seconds: 3600,
            provenance: vec!["build 0123abc (dirty) on host-a".into(), "probstab run sample.toml --jobs 2".into()],
            generated: "2025-01-01 12:00:00 UTC".into(),
            plots: vec![
                ("loss heatmap".into(), format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", svg("plot one"))),
                ("no viewBox".into(), format!("<svg width=\"300\" height=\"120\" xmlns=\"{SVG_NS}\"><circle cx=\"60\" cy=\"60\" r=\"50\" fill=\"#c33\"/></svg>")),
            ],
            traces: vec![("trace n=1".into(), svg("trace"))],
            header: vec!["cell".into(), "status".into(), "loss".into(), "steps".into(), "error".into()],
            rows,
            total_rows: 45,
        };
        let mut p = p;
        // Optionally a real plot too: `REPORT_SAMPLE_SVG=path/to/plot.svg`.
        if let Ok(svg_path) = std::env::var("REPORT_SAMPLE_SVG") {
            let text = std::fs::read_to_string(&svg_path).unwrap();
            p.plots.push((svg_path, text));
        }
        let path =
            std::env::var("REPORT_SAMPLE").unwrap_or_else(|_| "/tmp/report-sample.html".into());
        std::fs::write(&path, render(&p)).unwrap();
        eprintln!("wrote {path}");
    }
}
