// The browser half of browser_test.sh: node browser_test.cjs URL OUT_DIR CHROMIUM PUPPETEER TOKEN.
// Prints one line per check and "N passed, M failed"; exits 1 when any check failed.
"use strict";
const path = require("path");
const [base, out, chromium, puppeteerDir, token] = process.argv.slice(2);
const puppeteer = require(puppeteerDir);

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log("ok   " + name); }
  else { failed++; console.log("FAIL " + name + (detail === undefined ? "" : ": " + JSON.stringify(detail))); }
}
const shot = (page, name) => page.screenshot({ path: path.join(out, name + ".png"), fullPage: true });

async function visibleRows(page) {
  return page.$$eval("#repos .repo", (rows) => rows.filter((r) => !r.hidden).length);
}

async function clickAndWait(page, selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    const dialogs = [];
    page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });

    // The index.
    let res = await page.goto(base + "/", { waitUntil: "load" });
    check("index answers 200", res.status() === 200, res.status());
    const csp = res.headers()["content-security-policy"] || "";
    check("index has a strict CSP", csp.includes("script-src 'self'") && !csp.includes("unsafe"), csp);
    check("index lists the 4 public repos", (await visibleRows(page)) === 4, await visibleRows(page));
    const names = await page.$$eval("#repos .repo > a", (as) => as.map((a) => a.textContent));
    check("index names", JSON.stringify(names) === JSON.stringify(
      ["acme/tiny-model", "evil_org/_x-y", "khub-community/activation", "khub-community/rmsnorm"]), names);
    const badges = await page.$$eval("#repos .repo b", (bs) => bs.map((b) => b.textContent));
    check("CUDA badge with archs", badges.includes("cuda 13.0 9.0,10.0f,12.0+PTX"), badges);
    await shot(page, "index");

    // Search as you type (site.js), then the server-side ?q= of the form.
    await page.type("#q", "rocm");
    check("typing filters the rows", (await visibleRows(page)) === 1, await visibleRows(page));
    check("the count follows", (await page.$eval("#count", (e) => e.textContent)) === "1");
    await shot(page, "index-search");
    await page.$eval("#q", (e) => { e.value = ""; });
    await page.type("#q", "tiny");
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
    check("submitting searches on the server", page.url().includes("q=tiny") &&
      (await page.$$("#repos .repo")).length === 1, page.url());

    // repo -> version -> variant.
    await page.goto(base + "/", { waitUntil: "load" });
    await clickAndWait(page, "a[href='/khub-community/rmsnorm']");
    check("repo page", (await page.$eval("#repo-name", (e) => e.textContent)).startsWith("khub-community/rmsnorm"));
    check("default revision is main", (await page.$eval("#rev-name", (e) => e.textContent)) === "main");
    const tags = await page.$$eval("table.tags a.ref", (as) => as.map((a) => a.textContent));
    check("tags", JSON.stringify(tags) === JSON.stringify(["v1.0.0", "v1.1.0"]), tags);
    const branches = await page.$$eval("table.branches a.ref", (as) => as.map((a) => a.textContent));
    check("branches", JSON.stringify(branches) === JSON.stringify(["main", "v1"]), branches);
    check("two revisions with dates", (await page.$$eval("table.commits tbody tr", (rs) =>
      rs.filter((r) => /\d{4}-\d\d-\d\d \d\d:\d\d/.test(r.textContent)).length)) === 2);
    check("3 variants at main", (await page.$$("a.variant")).length === 3);
    // The demo hub signs nothing: every variant row says so, and the badge is styled (not inline).
    const sigs = await page.$$eval("table.variants td.signature i.sig", (is) => is.map((i) => i.textContent));
    check("signature column", sigs.length === 3 && sigs.every((t) => t === "unsigned"), sigs);
    check("README rendered", (await page.$eval("article.markdown h1", (e) => e.textContent)) === "rmsnorm");
    // The copy button (hidden without JavaScript) copies the kernels.lock entry.
    const copy = await page.$("button[data-copy='use-lock']");
    check("copy button shown", copy && !(await copy.evaluate((b) => b.hidden)));
    await copy.click();
    await page.waitForFunction(() => document.querySelector("button[data-copy='use-lock']").textContent === "Copied");
    check("copy button reports the copy", true);
    await shot(page, "repo");

    await clickAndWait(page, "table.tags a.ref[href*='v1.0.0']");
    check("version page", (await page.$eval("#rev-name", (e) => e.textContent)) === "v1.0.0");
    const variants = await page.$$eval("a.variant", (as) => as.map((a) => a.textContent));
    check("2 variants at v1.0.0", JSON.stringify(variants) === JSON.stringify(
      ["khub1-cpu-x86_64-linux", "khub1-cu128-x86_64-linux"]), variants);
    await clickAndWait(page, "a.variant[href*='khub1-cu128-x86_64-linux']");
    check("variant detail", (await page.$eval("#variant-detail", (e) => e.dataset.variant)) === "khub1-cu128-x86_64-linux");
    check("compute capabilities", (await page.$eval("tr.current td.archs", (e) => e.textContent)) === "8.0 9.0a");
    const files = await page.$$eval("#variant-files tbody tr", (rs) => rs.map((r) =>
      [r.children[0].textContent, r.children[2].textContent]));
    check("variant files with SHA-256", files.length === 3 && files.every(([p, h]) =>
      p.startsWith("build/khub1-cu128-x86_64-linux/") && /^[0-9a-f]{64}$/.test(h)), files);
    const layers = await page.$$eval("table.layers tbody tr", (rs) => rs.map((r) => r.children[0].textContent));
    check("layers from the manifest", JSON.stringify(layers) === JSON.stringify(["RMSNorm", "FusedAddRMSNorm"]), layers);
    await shot(page, "variant");

    // Benchmarks: SVG drawn on the server; responsive and dark.
    await page.goto(base + "/khub-community/rmsnorm/benchmarks", { waitUntil: "load" });
    const points = await page.$$eval("figure.chart", (fs) => fs.map((f) => f.querySelectorAll("circle.pt").length));
    check("charts and their points", JSON.stringify(points) === JSON.stringify([9, 9, 4, 4]), points);
    await shot(page, "benchmarks");
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await page.reload({ waitUntil: "load" });
    const w = await page.$eval("figure.chart svg", (s) => s.getBoundingClientRect().width);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    check("charts fit a phone", w > 200 && w <= 390 && overflow <= 390, { w, overflow });
    await shot(page, "benchmarks-phone");
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check("dark scheme", bg === "rgb(13, 17, 23)", bg);
    await shot(page, "benchmarks-phone-dark");
    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
    await page.setViewport({ width: 1280, height: 900 });

    // Hostile strings show as text and run nothing.
    for (const p of ["/", "/evil_org/_x-y", "/evil_org/_x-y?variant=khub1-cpu-x86_64-linux",
                     "/evil_org/_x-y/benchmarks", "/?q=%3Cscript%3Ewindow.__pwned%3D1%3C%2Fscript%3E"]) {
      await page.goto(base + p, { waitUntil: "load" });
      const st = await page.evaluate(() => ({
        pwned: typeof window.__pwned,
        scripts: Array.from(document.scripts).map((s) => s.getAttribute("src")),
        injected: document.querySelectorAll("img[onerror], svg[onload], iframe, main script").length,
      }));
      check("no script runs on " + p, st.pwned === "undefined" && st.injected === 0 &&
        JSON.stringify(st.scripts) === JSON.stringify(["/_khub/web/site.js"]), st);
    }
    await page.goto(base + "/evil_org/_x-y?variant=khub1-cpu-x86_64-linux", { waitUntil: "load" });
    const text = await page.evaluate(() => document.body.textContent);
    check("hostile names shown as text", text.includes("<img src=x onerror=window.__pwned=1>.txt") &&
      text.includes("<svg/onload=window.__pwned=1>"), text.slice(0, 300));
    await shot(page, "hostile");
    check("no dialog opened", dialogs.length === 0, dialogs);
    check("no page errors", errors.length === 0, errors);

    // Private repos need the token; without JavaScript the index and its search still work.
    res = await page.goto(base + "/acme/secret-kernel", { waitUntil: "load" });
    check("private repo hidden without a token", res.status() === 404, res.status());
    const authed = await browser.newPage();
    await authed.setExtraHTTPHeaders({ Authorization: "Bearer " + token });
    res = await authed.goto(base + "/acme/secret-kernel", { waitUntil: "load" });
    check("private repo shown with the token", res.status() === 200, res.status());
    const nojs = await browser.newPage();
    await nojs.setJavaScriptEnabled(false);
    await nojs.goto(base + "/?q=rocm", { waitUntil: "load" });
    check("search without JavaScript", (await nojs.$$("#repos .repo")).length === 1);
    check("copy buttons stay hidden without JavaScript", (await nojs.goto(base + "/khub-community/rmsnorm"),
      await nojs.$$eval("button.copy", (bs) => bs.every((b) => b.hidden))));
    await shot(nojs, "repo-nojs");
  } catch (e) {
    check("browser run", false, String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
