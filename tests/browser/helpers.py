"""Helpers shared by the browser tests: what a page did wrong (``watch``), settling and axe, the
widget page object, the quiz hook as a module, and WCAG colour contrast.

Imported as ``from helpers import ...``: pytest puts this folder (it has no __init__.py) on
sys.path for the test modules in it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
#: The built site; LONGCTX_SITE_DIR lets several builds coexist (one per developer preview), CI uses site/.
SITE = Path(os.environ.get("LONGCTX_SITE_DIR") or ROOT / "site")


LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class NetLog:
    """What a page did that a reader offline would notice."""

    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> dict[str, list[str]]:
        return {k: v for k, v in vars(self).items() if v}

    def clear(self) -> None:
        """Forget what was seen (a shared page, between tests)."""
        for found in vars(self).values():
            found.clear()


def watch(page) -> NetLog:
    """Record on ``page`` what a reader offline would notice (see :class:`NetLog`)."""
    log = NetLog()

    def request(req):
        if urlparse(req.url).hostname not in LOCAL_HOSTS and not req.url.startswith(("data:", "blob:")):
            log.blocked.append(req.url)

    def failed(req):
        # ERR_ABORTED on a local URL is the browser cancelling a load it no longer needs (the
        # favicon of a page being left, say), not a missing file: those show as HTTP errors.
        # Requests to other hosts are recorded as blocked above, whatever their failure.
        host = urlparse(req.url).hostname
        if host not in LOCAL_HOSTS or "ERR_ABORTED" in str(req.failure):
            return
        log.failed.append(f"{req.url} ({req.failure})")

    page.on("request", request)
    page.on("requestfailed", failed)
    page.on(
        "response", lambda resp: resp.status >= 400 and log.http_errors.append(f"{resp.status} {resp.url}")
    )
    page.on("console", lambda msg: msg.type == "error" and log.console_errors.append(msg.text))
    page.on("pageerror", lambda err: log.page_errors.append(str(err)))
    return log


def load_quiz_hook(name: str):
    """quizzes/hook.py loaded as a module (it is an MkDocs hook, not an importable package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "quizzes" / "hook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: A page is settled when its fonts are in, every widget is built (``data-lc-ready`` has left
#: "loading") and every ``.arithmatex`` element holds KaTeX's output.
_SETTLED = """() => document.fonts.ready.then(() => !document.querySelector('[data-lc-ready="loading"]')
    && ![...document.querySelectorAll('.arithmatex')].some(e => !e.querySelector('.katex')))"""


def open_settled(page, url: str, timeout: float = 15_000) -> None:
    """Load ``url`` and wait until it is settled (fonts, widgets, math), not a fixed quiet time.

    A page that never settles is left as it is after ``timeout``: the caller's assertions then say
    what is missing (math left as TeX, a widget still loading) more clearly than a timeout would.
    """
    page.goto(url, wait_until="load")
    try:
        page.wait_for_function(_SETTLED, timeout=timeout)
    except PlaywrightTimeout:
        pass


def toggle_scheme(page) -> str:
    """Click the header's light/dark toggle, as a reader would; return the scheme now shown
    (``data-md-color-scheme``: "default" or "slate")."""
    page.locator("form[data-md-component=palette] label:not([hidden])").first.click()
    return page.evaluate("document.body.getAttribute('data-md-color-scheme')")


# axe-core from npm (package-lock.json), like KaTeX; LONGCTX_AXE may name another copy of axe.min.js
AXE = Path(os.environ.get("LONGCTX_AXE") or ROOT / "node_modules" / "axe-core" / "axe.min.js")
#: Where the test server (conftest.py) serves ``AXE`` beside the site. A script loaded by URL is
#: cached compiled by Chromium after its first loads; one inlined by path was compiled again on
#: every page (0.17 s of the page's CPU against 0.04 s).
AXE_ROUTE = "/__tests__/axe.min.js"
#: Every WCAG 2.0/2.1 A and AA rule.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: The rules of those whose outcome depends on the colours (what the palette toggle changes).
AXE_COLOUR_RULES = ["color-contrast", "link-in-text-block"]
_AXE_RUN = """async runOnly => {
  const r = await axe.run(document, {runOnly, resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, count: v.nodes.length,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
}"""


def axe_serious(page, rules: list[str] | None = None) -> str:
    """axe-core's serious and critical violations on the page as it is now, one line each ("" if
    none): every rule of ``AXE_TAGS``, or only ``rules``."""
    assert AXE.is_file(), "node_modules/axe-core is missing: run `npm ci`"
    if not page.evaluate("typeof window.axe === 'object'"):
        site = urlparse(page.url)
        page.add_script_tag(url=f"{site.scheme}://{site.netloc}{AXE_ROUTE}")
    run_only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": AXE_TAGS}
    found = page.evaluate(_AXE_RUN, run_only)
    return "\n".join(f"{v['id']} ({v['impact']}, {v['count']} elements): {v['nodes']}" for v in found)


def at(url: str) -> re.Pattern:
    """A ``wait_for_url`` pattern for ``url`` with or without a ?query and a #fragment.

    Material's ``navigation.tracking`` writes the heading in view into the address, and on a slow
    machine it can do so just after an instant navigation, so a page's URL may end in any fragment;
    a widget writes its inputs into the query (so that the address can be shared).
    """
    return re.compile(re.escape(url) + r"(\?[^#/]*)?(#[^/]*)?$")


def back_and_forward(page, back_url: str, forward_url: str, widget: str):
    """Go back to ``back_url`` and forward again by Material's instant navigation; return the
    widget ``widget`` (a selector) of the page come back to, once it is built.

    Waiting for the address is not enough: it changes before the content is swapped, so the
    widget of the page being left could still be found ready and be edited just before it is
    replaced. Each step waits for its own page's content: the widget gone, then a new one built.
    """
    page.go_back()
    page.wait_for_url(at(back_url))
    expect(page.locator(widget)).to_have_count(0)
    page.go_forward()
    page.wait_for_url(at(forward_url))
    found = page.locator(widget)
    expect(found).to_have_count(1)
    expect(found).to_have_attribute("data-lc-ready", "true")
    return found


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour with 0..255 channels."""

    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple, bg: tuple) -> float:
    """WCAG contrast ratio of two colours, from 1 to 21."""
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rgb(css: str, under: tuple | None = None) -> tuple[float, float, float]:
    """A computed CSS colour (``rgb(...)``/``rgba(...)``) as channels, composited over ``under`` if translucent."""
    nums = [float(x) for x in re.findall(r"[\d.]+", css)]
    r, g, b = nums[:3]
    a = nums[3] if len(nums) > 3 else 1.0
    if under is not None and a < 1:
        r, g, b = (a * c + (1 - a) * u for c, u in zip((r, g, b), under))
    return (r, g, b)


#: Page script: an element's text colour and the first non-transparent background behind it.
COLOURS_JS = """e => {
    let b = 'rgba(0, 0, 0, 0)', n = e;
    while (n && /rgba\\(.*, 0\\)$/.test(b)) { b = getComputedStyle(n).backgroundColor; n = n.parentElement; }
    return [getComputedStyle(e).color, b];
}"""


#: Words a computed value that went wrong would show.
BAD_WORDS = ("NaN", "Infinity", "undefined", "null")


def assert_clean(text: str, where: object = "") -> None:
    """No ``BAD_WORDS`` in what a widget shows (``where`` says which input led to it)."""
    found = [w for w in BAD_WORDS if w in text]
    assert not found, f"{where}: {found} shown in the widget: {text!r}"


#: Page script ``(root, values, changedOnly) => problems``: ``Widget.set``.
_SET_JS = """(root, values, changedOnly) => {
    const fields = Object.keys(values).map(n => [n, root.querySelector(`[name='${n}']`)]);
    const missing = fields.filter(([, e]) => !e).map(([n]) => n);
    if (missing.length) return missing.map(n => `no field named ${n}`);
    const kind = e => e.tagName === 'SELECT' ? 0 : e.type === 'checkbox' ? 1 : 2;
    for (const k of [0, 1, 2]) {
        for (const [n, e] of fields) {
            if (kind(e) !== k || values[n] === null) continue;
            if (changedOnly && (k === 1 ? e.checked === Boolean(values[n]) : e.value === values[n])) continue;
            if (k === 0 && ![...e.options].some(o => o.value === values[n])) return [`${n} has no option ${values[n]}`];
            if (k === 1) e.checked = Boolean(values[n]); else e.value = values[n];
            e.dispatchEvent(new Event('input', {bubbles: true}));
            e.dispatchEvent(new Event('change', {bubbles: true}));
        }
    }
    return [];
}"""

#: Page script ``root => {...}``: ``Widget.snapshot``.
_SNAPSHOT_JS = """root => {
    const msg = root.querySelector('.lc-widget__msg');
    const inputs = [...root.querySelectorAll('input[name], select[name]')];
    const outs = [...root.querySelectorAll('.lc-widget__out')], top = root.getBoundingClientRect().top;
    return {
        state: root.dataset.state,
        text: root.innerText,
        message: msg ? msg.innerText : '',
        // shown as Playwright's to_be_visible has it: a box of some size, and not visibility: hidden
        message_shown: !!msg && ((r) => r.width > 0 && r.height > 0)(msg.getBoundingClientRect())
            && getComputedStyle(msg).visibility !== 'hidden',
        errors: msg ? [...msg.querySelectorAll('li')].map(li => li.innerText.trim()) : [],
        fields: Object.fromEntries(inputs.map(i => [i.name, i.type === 'checkbox' ? i.checked : i.value])),
        labels: Object.fromEntries(inputs.map(
            i => [i.name, i.labels.length ? i.labels[0].innerText.trim() : ''])),
        invalid: [...root.querySelectorAll('[name][aria-invalid=true]')].map(e => e.name),
        results: outs.map(o => [o.innerText, {...o.dataset}]),
        // each result's place in the widget (top, height) and its opacity
        placed: outs.map(o => ((r) => [r.top - top, r.height, +getComputedStyle(o).opacity])(
            o.getBoundingClientRect())),
        values: Object.fromEntries([...root.querySelectorAll('[data-key][data-value]')]
            .filter(e => !e.closest('tr[data-n], tr[data-variant]'))
            .map(e => [e.dataset.key, e.dataset.value])),
        rows: [...root.querySelectorAll('tr[data-n], tr[data-variant]')].map(tr => ({
            n: tr.dataset.n, variant: tr.dataset.variant,
            cells: Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map(
                td => [td.dataset.key, td.dataset.value])),
        })),
    };
}"""

#: The fields of each widget as its page was loaded, by page and selector (``Widget.reopen``).
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Widget:
    """One in-browser widget on a page, as the tests drive it (the page object the widget tests share).

    ``Widget(page, ".lc-kv")`` waits for the first root matching the selector to be built
    (``data-lc-ready="true"``). Fields are named by their ``name`` attribute; results by the
    ``data-key`` of the cell that shows them, whose ``data-value`` holds the raw number.
    """

    def __init__(self, page, selector: str, timeout: float = 15_000):
        self.page = page
        self.root = page.locator(selector).first
        page.wait_for_selector(f"{selector}[data-lc-ready='true']", timeout=timeout)

    @classmethod
    def load(cls, page, url: str, selector: str) -> Widget:
        """Load ``url`` afresh and return its widget ``selector`` (the page's only one) once built."""
        page.goto(url)
        expect(page.locator(selector)).to_have_count(1)
        return cls(page, selector)

    @classmethod
    def reopen(cls, page, url: str, selector: str) -> Widget:
        """The widget ``selector`` of the page at ``url`` as it was loaded: the first time on ``page``
        the page is loaded; afterwards each field that differs is set back to its value at that load
        (selects first, with the events a reader's edit fires: a preset or a GPU chosen again fills
        its fields), which is what a fresh load shows, without loading again.

        For the tests that share a page (conftest's ``on_page``). A test about what a fresh load
        shows (start values, the address, storage), or that depends on what a widget remembers
        beyond its fields (the KV calculator keeps a context the reader typed), loads the page itself.
        """
        loaded = _LOADED.setdefault(page, {})
        here = re.split(r"[?#]", page.url)[0] == url
        if here and selector in loaded and page.locator(f"{selector}[data-lc-ready='true']").count() == 1:
            widget = cls(page, selector)
            fields, state = loaded[selector]
            for _ in range(3):  # a field set may change another (any edit makes the preset "custom")
                widget.set(_changed_only=True, **fields)
                now = widget.snapshot()
                if now["fields"] == fields:
                    break
            assert (now["fields"], now["state"]) == (fields, state), (
                f"{selector} not reset: {now} != {fields}"
            )
            return widget
        if here:
            widget = cls(page, selector)
        else:
            loaded.clear()
            widget = cls.load(page, url, selector)
        first = widget.snapshot()
        loaded[selector] = first["fields"], first["state"]
        return widget

    def field(self, name: str):
        return self.root.locator(f"[name='{name}']")

    def fill(self, name: str, text: str) -> None:
        """Type ``text`` into a text field as a reader would (the widget updates on input)."""
        self.field(name).fill(text)

    def choose(self, name: str, value: str) -> None:
        self.field(name).select_option(value)

    def tick(self, name: str, on: bool = True) -> None:
        self.field(name).set_checked(on)

    def input_value(self, name: str) -> str:
        return self.field(name).input_value()

    def value(self, key: str, row: str | None = None) -> float:
        """The raw number behind the result cell ``data-key=key`` (in the row ``data-n=row``, if given)."""
        scope = self.root.locator(f"[data-n='{row}']") if row is not None else self.root
        return float(scope.locator(f"[data-key='{key}']").first.get_attribute("data-value"))

    def text(self, key: str) -> str:
        return self.root.locator(f"[data-key='{key}']").first.inner_text().strip()

    @property
    def state(self) -> str | None:
        return self.root.get_attribute("data-state")

    def errors(self) -> list[str]:
        return [t.strip() for t in self.root.locator(".lc-widget__msg li").all_inner_texts()]

    @property
    def out(self):
        return self.root.locator(".lc-widget__out")

    def locator(self, selector: str):
        return self.root.locator(selector)

    def inner_text(self) -> str:
        return self.root.inner_text()

    def evaluate(self, script: str, arg=None):
        return self.root.evaluate(script, arg)

    def set(self, _changed_only: bool = False, **values) -> None:
        """Set several fields in one round trip, in a reader's order: selects first (a preset or a GPU
        may reset other fields), then checkboxes, then text fields; ``None`` leaves a field alone.

        Each field gets the events a reader's edit fires, ``input`` and then ``change`` (a text
        field's as it loses focus), so the widget recomputes after every field as it would. How a
        reader types is tested through :meth:`fill`, the keyboard and the mouse; this is for the
        sweeps over many settings, where one Playwright call per field would be most of the time.
        ``_changed_only`` leaves alone a field that already holds its value (``reopen``'s reset).
        """
        problems = self.root.evaluate(
            f"(root, [values, changedOnly]) => ({_SET_JS})(root, values, changedOnly)",
            [values, _changed_only],
        )
        assert not problems, f"could not set the fields: {problems}"

    def snapshot(self) -> dict:
        """Everything the widget shows, in one round trip: state, text, message (whether it is
        shown, and its errors), the fields' values and labels and those marked ``aria-invalid``, the
        results' text and data and their place and opacity, each result's raw value by data-key, and
        the rows (tr[data-n] / tr[data-variant]) of its table."""
        return self.root.evaluate(_SNAPSHOT_JS)

    def sweep(self, cases: list[tuple[str, str]], back: dict[str, str]) -> list[tuple[dict, dict]]:
        """For each ``(field, text)`` of ``cases`` in turn: set the field to ``text`` and take a
        snapshot, then set it to ``back[field]`` and take another; the pairs of snapshots, in order.
        One round trip for all (the widgets recompute as an input event is handled): a sweep over
        many inputs spent most of its time in two Playwright calls per step."""
        found = self.root.evaluate(
            f"""(root, [cases, back]) => {{
            const set = {_SET_JS}, snapshot = {_SNAPSHOT_JS};
            return cases.map(([name, text]) => {{
                const problems = set(root, {{[name]: text}}, false), bad = snapshot(root);
                problems.push(...set(root, {{[name]: back[name]}}, false));
                return [problems, bad, snapshot(root)];
            }});
        }}""",
            [cases, back],
        )
        problems = [p for p, _, _ in found if p]
        assert not problems, f"could not set the fields: {problems}"
        return [(bad, good) for _, bad, good in found]

    def check_bad_inputs(self, cases: list[tuple[str, str, str]]) -> None:
        """Each bad ``(field, text, message)`` of ``cases`` in turn, from the results the widget
        shows now: the widget is in error, says ``message`` (case aside) in a message that shows,
        one error that starts with the field's label, marks the field ``aria-invalid`` and keeps the
        last good results as they were, greyed in place (same place and height in the widget, opacity
        below 1); putting the field's text back clears all that and shows the same results at full
        opacity. It never shows NaN, Infinity, undefined or null."""
        before = self.snapshot()
        assert before["state"] == "ok" and not before["invalid"], before["message"]
        assert before["placed"], "the widget shows no results (.lc-widget__out) to keep"
        for (name, text, message), (bad, back) in zip(
            cases, self.sweep([(f, t) for f, t, _ in cases], before["fields"]), strict=True
        ):
            where = f"{name}={text!r}"
            assert bad["state"] == "error", where
            assert message.lower() in bad["message"].lower(), (where, bad["message"])
            assert bad["message_shown"], f"{where}: the message is not shown"
            label = before["labels"][name].split()[0]
            one = len(bad["errors"]) == 1 and bad["errors"][0].startswith(label)
            assert one, f"{where}: not one error starting with {label!r}: {bad['errors']}"
            assert name in bad["invalid"], f"{where}: the field is not marked aria-invalid"
            # placed in the same round trip as the bad snapshot (the sweep's), so that a font loaded
            # in between cannot move them
            assert [p[:2] for p in bad["placed"]] == [p[:2] for p in back["placed"]], (
                f"{where}: the results moved"
            )
            assert all(o < 1 for *_, o in bad["placed"]), f"{where}: the last results are not greyed"
            assert all(o == 1 for *_, o in back["placed"]), (
                f"{where}: good again, the results are still greyed"
            )
            for shown in (bad, back):
                assert (shown["results"], shown["values"], shown["rows"]) == (
                    before["results"],
                    before["values"],
                    before["rows"],
                ), f"{where}: the results changed ({'bad' if shown is bad else 'good again'})"
                assert_clean(shown["text"], where)
            assert (back["state"], back["message"], back["invalid"]) == ("ok", "", []), (where, back)
