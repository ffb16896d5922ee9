// The stylesheet and the script of the web pages (site.h), served from this origin so that the
// Content-Security-Policy can refuse every inline script and style. Light and dark schemes follow
// prefers-color-scheme; the layout is one column on a phone and wider tables scroll sideways.
#include "serve/web/site.h"

namespace khub::serve::web {

const char* const kStyleCss =
    R"CSS(:root{--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--card:#f6f8fa;
--link:#0969da;--accent:#bf3989;--s0:#0969da;--s1:#cf222e;--s2:#1a7f37;--s3:#9a6700;--s4:#8250df;
--s5:#bc4c00;--s6:#1b7c83;--s7:#57606a;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;
--card:#161b22;--link:#4493f8;--accent:#f778ba;--s0:#4493f8;--s1:#ff7b72;--s2:#3fb950;--s3:#d29922;
--s4:#a371f7;--s5:#f0883e;--s6:#39c5cf;--s7:#8b949e}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}header{padding:12px 16px;
border-bottom:1px solid var(--line)}footer{color:var(--muted);padding:24px 16px;font-size:13px}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}.home{font-weight:700}
h1{font-size:1.6em;margin:16px 0 4px;overflow-wrap:anywhere}h2{border-bottom:1px solid var(--line);
padding-bottom:4px;margin-top:32px}.meta,.note{color:var(--muted)}code,pre,.hash{
font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.search{display:flex;gap:8px;margin:12px 0}.search input{flex:1;min-width:0;padding:8px;
font:inherit;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
button{font:inherit;padding:6px 12px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg);cursor:pointer}
.repos{list-style:none;padding:0;margin:0}.repo{padding:10px 0;border-bottom:1px solid var(--line);
display:flex;flex-wrap:wrap;gap:4px 8px;align-items:baseline}.repo>a{font-weight:600;
overflow-wrap:anywhere}.repo small{color:var(--muted);font-size:13px}.repo em,.kind,.private,
.repo b{font-size:12px;font-style:normal;font-weight:500;border:1px solid var(--line);
border-radius:10px;padding:0 8px}.private,.repo em.private{border-color:var(--accent);
color:var(--accent)}.repo b{background:var(--card)}.repo b.cuda{color:var(--s2)}
.repo b.rocm{color:var(--s1)}.repo b.metal{color:var(--s7)}.repo b.xpu{color:var(--s0)}
.repo b.cpu{color:var(--s4)}.sig{font-size:12px;font-style:normal;font-weight:500;border:1px solid;
border-radius:10px;padding:0 8px}.sig.signed{color:var(--s2)}.sig.unsigned{color:var(--muted)}
.sig.untrusted,.sig.partly-signed,.sig.unchecked{color:var(--s3)}.sig.refused{color:var(--s1)}.repo small.problem{color:var(--s1)}.repo code{font-size:12px;color:var(--muted)}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}td.num{text-align:right;white-space:nowrap}
td.hash,td.path{overflow-wrap:anywhere}tr.current{background:var(--card)}tr.problem td{color:var(--s1)}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px}
.variant-detail{border:1px solid var(--line);border-radius:8px;padding:8px 16px;margin:16px 0}
.snippet{border:1px solid var(--line);border-radius:8px;margin:12px 0;overflow:hidden}
.snippet-head{display:flex;justify-content:space-between;align-items:center;padding:4px 8px;
background:var(--card);color:var(--muted);font-size:13px}.snippet pre{margin:0;padding:8px;
overflow-x:auto}.markdown img{max-width:100%}.markdown pre{background:var(--card);padding:8px;
overflow-x:auto;border-radius:6px}.markdown table{width:auto}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:16px}
.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px}.chart svg{width:100%;
height:auto;display:block}.chart text{fill:var(--fg);font-size:12px}.chart .title{font-size:14px;
font-weight:600}.chart .tick,.chart .label{fill:var(--muted)}.chart .grid{stroke:var(--line);
stroke-width:1}.chart .axis{stroke:var(--muted)}.chart .ref{stroke:var(--accent);
stroke-dasharray:6 4;stroke-width:1.5}.chart .reflabel{fill:var(--accent)}
.chart polyline{fill:none;stroke-width:2}.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:13px;
padding:4px}.legend .key:before{content:"";display:inline-block;width:12px;height:3px;
margin-right:6px;vertical-align:middle;background:currentColor}
.s0{color:var(--s0);stroke:var(--s0)}.s1{color:var(--s1);stroke:var(--s1)}.s2{color:var(--s2);
stroke:var(--s2)}.s3{color:var(--s3);stroke:var(--s3)}.s4{color:var(--s4);stroke:var(--s4)}
.s5{color:var(--s5);stroke:var(--s5)}.s6{color:var(--s6);stroke:var(--s6)}.s7{color:var(--s7);
stroke:var(--s7)}.series circle{fill:currentColor;stroke:var(--bg);stroke-width:1}
.series polyline{stroke:currentColor}
@media (max-width:600px){body{font-size:14px}th,td{padding:3px 4px}h1{font-size:1.3em}}
)CSS";

// Filters the index rows by their text as the search box changes (the server does the same for
// ?q= without JavaScript), and turns the hidden copy buttons on.
const char* const kSiteJs = R"JS("use strict";
document.addEventListener("DOMContentLoaded", function () {
  var q = document.getElementById("q");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#repos .repo"));
  var count = document.getElementById("count");
  if (q && rows.length) {
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    q.addEventListener("input", function () {
      var needle = q.value.toLowerCase(), shown = 0;
      rows.forEach(function (r, i) {
        var hit = texts[i].indexOf(needle) >= 0;
        r.hidden = !hit;
        if (hit) shown++;
      });
      if (count) count.textContent = String(shown);
    });
  }
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el) return;
      var done = function () { b.textContent = "Copied"; b.classList.add("copied"); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(el.textContent).then(done, function () { select(el); done(); });
      } else { select(el); done(); }
    });
  });
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
});
)JS";

}  // namespace khub::serve::web
