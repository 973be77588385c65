"""The end-to-end run's report in a real browser: the system's chromium, headless, driven through playwright.

The report must open offline and read well: no console error, no request but the file itself (and data:
URLs), every image decoded, nothing to scroll sideways at 1280 and 800 px, every contents link landing on
its section. Playwright uses /usr/bin/chromium as it is (no `playwright install`, nothing downloaded) and
gives every browser context a fresh profile; requests that would leave the machine are aborted.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = shutil.which("chromium")
# playwright adds --headless, a fresh --user-data-dir and most of these itself; they are named to say what runs
FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (1280, 800)
HEIGHT = 800
AT_THE_TOP = HEIGHT // 10  # px: a heading this close to the viewport's top edge is where a link should land

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs Debian's)"),
]


@pytest.fixture(scope="module")
def report(pipeline: Path) -> Path:
    """The report of the end-to-end run that tests/test_pipeline.py checks (conftest's ``pipeline``)."""
    return pipeline / "results" / "report" / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@dataclass
class Visit:
    """One page load: the page, and what it logged and asked for while loading."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL requested, the page's own included

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@contextmanager
def opened(browser: Browser, path: Path, width: int) -> Iterator[Visit]:
    """``path`` loaded (images included) in a new context of ``width`` × HEIGHT px."""
    context = browser.new_context(viewport={"width": width, "height": HEIGHT})
    try:
        context.route(re.compile(r"^(?!file:|data:)"), lambda route: route.abort())  # nothing leaves the machine
        page = context.new_page()
        visit = Visit(page, path.as_uri())
        page.on("console", visit.console)
        page.on("pageerror", lambda error: visit.errors.append(f"uncaught {error}"))
        context.on("request", lambda request: visit.requests.append(request.url))
        page.goto(visit.url)  # returns after the load event: every image fetched
        yield visit
    finally:
        context.close()


def outside_requests(visit: Visit) -> list[str]:
    """The URLs requested besides the file itself and data: URLs."""
    return [url for url in visit.requests if url != visit.url and not url.startswith("data:")]


def undecoded_images(visit: Visit) -> list[str]:
    """The start of the source of each image the browser could not decode."""
    return visit.page.evaluate(
        "[...document.images].filter(image => !(image.naturalWidth > 0)).map(image => image.src.slice(0, 60))"
    )


def sideways_scrollers(visit: Visit) -> list[str]:
    """The page, or any box inside it, whose content is wider than the box and scrolls sideways."""
    return visit.page.evaluate(
        """() => [document.scrollingElement, ...document.querySelectorAll('body *')]
            .filter(box => box === document.scrollingElement || /auto|scroll/.test(getComputedStyle(box).overflowX))
            .filter(box => box.scrollWidth > box.clientWidth)
            .map(box => `<${box.tagName.toLowerCase()} class="${box.className}">: ${box.scrollWidth} px wide `
                        + `content in ${box.clientWidth} px: ${box.innerText.slice(0, 80)}`)"""
    )


def contents_links(page: Page) -> list[tuple[str, str]]:
    """The (href, text) of each link in the report's Contents list."""
    links = page.locator("xpath=//p[strong='Contents']/following-sibling::ol[1]//a")
    return [(link.get_attribute("href") or "", link.inner_text()) for link in links.all()]


def landing(page: Page, href: str) -> dict | None:
    """After following ``href`` from the top of the page: the first heading after its target, and that
    heading's distance from the viewport's top edge (None: no such target)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.click(f"a[href='{href}']")
    return page.evaluate(
        """(id) => {
            const target = document.getElementById(id);
            if (!target) return null;
            const heading = document.evaluate('following::*[self::h1 or self::h2][1]', target, null,
                                              XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
            return {text: heading.textContent.replace(/¶$/, ''), top: heading.getBoundingClientRect().top};
        }""",
        href.removeprefix("#"),
    )


def misplaced_sections(visit: Visit) -> list[str]:
    """Every contents link that does not bring its own numbered heading to the top of the viewport."""
    problems = []
    for number, (href, title) in enumerate(contents_links(visit.page), start=1):
        landed = landing(visit.page, href)
        if landed is None:
            problems.append(f"{href} ({title}): no element has that id")
        elif landed["text"] != f"{number}. {title}" or not 0 <= landed["top"] < AT_THE_TOP:
            problems.append(f"{href} ({title}): '{landed['text']}' ends up {landed['top']:.0f} px below the top")
    return problems


def test_the_report_asks_for_nothing_but_itself_and_logs_no_error(browser, report):
    with opened(browser, report, WIDTHS[0]) as visit:
        assert visit.requests[0] == report.as_uri()  # the listener saw the page load itself
        assert outside_requests(visit) == []
        assert visit.errors == []


def test_every_image_is_decoded(browser, report):
    with opened(browser, report, WIDTHS[0]) as visit:
        assert visit.page.evaluate("document.images.length") > 20
        assert undecoded_images(visit) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_scrolls_sideways(browser, report, width):
    with opened(browser, report, width) as visit:
        assert sideways_scrollers(visit) == []


def test_every_contents_link_lands_on_its_section(browser, report):
    with opened(browser, report, WIDTHS[0]) as visit:
        links = contents_links(visit.page)
        # every section anchor is listed: Verdict, the notebooks' sections, Reproduce
        assert len(links) == visit.page.locator("[id^='section-']").count() > 2
        assert misplaced_sections(visit) == []


def test_screenshots_of_the_first_screen_and_a_figure_section(browser, report, tmp_path):
    with opened(browser, report, WIDTHS[0]) as visit:
        first = tmp_path / "first-screen.png"
        visit.page.screenshot(path=first)
        section = tmp_path / "figure-section.png"
        clip = first_figure_section(visit.page)
        visit.page.screenshot(path=section, full_page=True, clip=clip)
        caption_top = visit.page.evaluate(
            """() => {
                const caption = document.images[0].closest("figure")?.querySelector("figcaption");
                return caption ? caption.getBoundingClientRect().top + window.scrollY : null;
            }"""
        )
    print(f"screenshots for people to look at: {first} {section}")
    assert caption_top is not None and clip["y"] < caption_top < clip["y"] + clip["height"]  # figure with caption


def first_figure_section(page: Page) -> dict:
    """The page area (at most two screens tall) of the section that holds the report's first image."""
    return page.evaluate(
        """(limit) => {
            const anchors = [...document.querySelectorAll("[id^='section-']")];
            const image = document.images[0];
            const precedes = (a, b) => a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING;
            const start = anchors.filter(anchor => precedes(anchor, image)).pop();
            const next = anchors.find(anchor => precedes(image, anchor));
            const top = start.getBoundingClientRect().top + window.scrollY;
            const bottom = next ? next.getBoundingClientRect().top + window.scrollY : document.body.scrollHeight;
            return {x: 0, y: top, width: document.documentElement.clientWidth, height: Math.min(bottom - top, limit)};
        }""",
        2 * HEIGHT,
    )


# Each check above, on a copy of the report broken in the way it guards against, must find something.
BREAKAGES = {
    "a remote image": ("</body>", '<img src="http://example.com/x.png"></body>', outside_requests),
    "a console error": ("</body>", "<script>console.error('broken')</script></body>", lambda visit: visit.errors),
    "an undecodable image": ('src="data:image/png;base64,', 'src="data:image/png;base64,AAAA', undecoded_images),
    "a box wider than 800 px": ("</body>", '<div style="width: 900px">wide</div></body>', sideways_scrollers),
    "a missing section anchor": ('<a id="section-3"></a>', "", misplaced_sections),
    "an anchor far above its heading": (
        '<a id="section-4"></a></p>',
        '<a id="section-4"></a></p><div style="height: 900px"></div>',
        misplaced_sections,
    ),
    "a contents link to another section": ('href="#section-5"', 'href="#section-6"', misplaced_sections),
}


@pytest.mark.parametrize(("old", "new", "check"), BREAKAGES.values(), ids=list(BREAKAGES))
def test_each_check_catches_a_broken_copy(browser, report, tmp_path, old, new, check):
    html = report.read_text()
    assert old in html
    broken = tmp_path / "report.html"
    broken.write_text(html.replace(old, new, 1))
    with opened(browser, broken, 800) as visit:
        assert check(visit)
