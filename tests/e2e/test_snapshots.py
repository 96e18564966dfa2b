"""A notebook read before anything runs (issue 15): what a self-paced reader sees.

Notebook 00 is built from its source into the test's temp dir by scripts/build_notebooks.py
(so the test does not depend on the committed .ipynb), then:

- opened in JupyterLab without running a cell: trusted (what ``make lab`` does), the frame
  inspector is drawn from the saved widget state and the diagram is an SVG picture;
  untrusted (a notebook just downloaded), the inspector's static snapshot shows the table;
- exported to a static HTML page and opened in Chromium with every request off this
  machine refused: the frame table is there.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from jupyter_servers import jupyter

from .conftest import ROOT, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

VIEW = "application/vnd.jupyter.widget-view+json"
SVG_IMG = "img[src^='data:image/svg+xml']"  # how JupyterLab draws an image/svg+xml output


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_notebooks", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built00(tmp_path_factory):
    """Notebook 00 built (run once in a fresh kernel) into a temp dir; (path, inspector output)."""
    if shutil.which("dot") is None:  # the diagram needs graphviz's dot
        msg = "graphviz's dot is not installed (apt-get install graphviz)"
        pytest.fail(msg) if os.environ.get("CI", "").lower() == "true" else pytest.skip(msg)
    builder = _builder()
    src = next(s for s in builder.sources() if s.stem.startswith("00-"))
    out = tmp_path_factory.mktemp("built") / src.name.replace(".py", ".ipynb")
    builder.build(src, 60, out=out)
    nb = nbformat.read(str(out), as_version=4)
    inspector = next(o for c in nb.cells for o in c.get("outputs", [])
                     if "FrameInspector" in o.get("data", {}).get("text/plain", ""))
    return out, inspector


def _saved_rows(inspector_output) -> list[list[str]]:
    """The frame table saved in the inspector's snapshot: each row's cells, as text."""
    rows = re.findall(r"<tr class='wsdemo-row'[^>]*>(.*?)</tr>", inspector_output.data["text/html"], re.S)
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


async def _shown_rows(table) -> list[list[str]]:
    rows = table.locator("tr.wsdemo-row")
    return [await rows.nth(i).locator("td").all_text_contents() for i in range(await rows.count())]


async def _context(browser):
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    context.set_default_timeout(60_000)
    return context


async def test_unexecuted_notebook_in_jupyterlab_shows_saved_widgets_and_diagrams(
        built00, browser, tmp_path):
    path, inspector = built00
    saved = _saved_rows(inspector)
    # 00 sends a text message and gets it back: HTTP heads, then frames both ways
    assert [r[3:5] for r in saved[:4]] == [["→ client", "HTTP GET"], ["← server", "HTTP 101"],
                                          ["→ client", "TEXT"], ["← server", "TEXT"]], saved[:4]
    counts = re.search(r"<b>Frames</b>: (\d+ frames)", inspector.data["text/html"]).group(1)
    assert VIEW in inspector.data
    notary = [f"--NotebookNotary.db_file={tmp_path / 'nbsignatures.db'}",
              f"--NotebookNotary.secret_file={tmp_path / 'notebook_secret'}"]
    with jupyter(tmp_path, "jupyterlab", extra_args=notary) as lab:
        shutil.copy(path, lab.root / "trusted.ipynb")
        # a signature covers the content: the untrusted copy must differ from the signed one
        nb = nbformat.read(str(path), as_version=4)
        nb.metadata["title"] = "downloaded, never signed"
        nbformat.write(nb, str(lab.root / "downloaded.ipynb"))
        # what `make lab` does (scripts/dev.sh), with this test's own signature store
        subprocess.run([sys.executable, "-m", "jupyter", "trust", *notary, str(lab.root / "trusted.ipynb")],
                       check=True, capture_output=True, timeout=60)
        context = await _context(browser)
        try:
            page = await context.new_page()
            await page.goto(lab.notebook_url("trusted.ipynb"))
            panel = page.locator(".jp-NotebookPanel:visible")
            widget = panel.locator(".wsdemo-inspector").first
            await widget.locator(".wsdemo-rows option").first.wait_for()
            options = [o.replace("\xa0", " ") for o in
                       await widget.locator(".wsdemo-rows option").all_text_contents()]
            assert len(options) == len(saved)
            assert all(r[6] in o for r, o in zip(saved, options)), (saved[:3], options[:3])
            assert f"Frames: {counts}" in await widget.text_content()
            # no kernel behind it: one broken-link mark on the widget, not one on each part
            marks = await widget.evaluate(
                "w => [w, ...w.querySelectorAll('.jupyter-widgets-disconnected')].filter(e =>"
                " e.classList.contains('jupyter-widgets-disconnected')"
                " && getComputedStyle(e, '::before').display !== 'none').length")
            assert marks == 1
            await panel.locator(SVG_IMG).first.wait_for()  # the connection diagram, drawn
            outputs = "\n".join(await panel.locator(".jp-OutputArea-output").all_text_contents())
            assert "Error displaying widget" not in outputs and "model not found" not in outputs
            assert await panel.locator(".wsdemo-snapshot").count() == 0  # the widget, not its picture
            await widget.scroll_into_view_if_needed()
            await screenshot(page, tmp_path, "jupyterlab-unexecuted-00-trusted.png")
            await context.close()

            # a second JupyterLab tab in one browser opens a new workspace: use a fresh browser
            context = await _context(browser)
            page = await context.new_page()
            await page.goto(lab.notebook_url("downloaded.ipynb") + "&reset")  # not the saved layout
            panel = page.locator(".jp-NotebookPanel:visible")  # background tabs keep their DOM
            snap = panel.locator(".wsdemo-snapshot").first
            await snap.wait_for()
            assert await _shown_rows(snap) == saved
            # untrusted: JupyterLab shows no SVG, which is why `make lab` trusts the notebooks
            assert await panel.locator(SVG_IMG).count() == 0
            assert "<diagram from_connection: /echo" in await panel.text_content()  # its text instead
            await snap.scroll_into_view_if_needed()
            await screenshot(page, tmp_path, "jupyterlab-unexecuted-00-untrusted.png")
        finally:
            await context.close()


async def test_static_html_export_of_00_shows_the_frame_table(built00, browser, tmp_path):
    path, inspector = built00
    saved = _saved_rows(inspector)
    model_id = inspector.data[VIEW]["model_id"]

    # nbconvert's own export keeps the widget and its saved state (nbviewer draws it online)
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(path), "--output-dir",
                    str(tmp_path / "default")], check=True, capture_output=True, timeout=120)
    default = (tmp_path / "default" / path.with_suffix(".html").name).read_text()
    assert 'type="application/vnd.jupyter.widget-state+json"' in default and model_id in default

    # the static page: every widget as its snapshot, readable with no network at all
    page_path = _builder().export_html(path, tmp_path / "00.html")
    page = await browser.new_page()
    refused = []

    async def local_only(route):
        url = route.request.url
        if url.startswith("file://") or url.startswith("data:"):
            await route.continue_()
        else:
            refused.append(url)
            await route.abort()

    await page.route("**/*", local_only)
    await page.goto(page_path.as_uri())
    table = page.locator(".wsdemo-snapshot table.wsdemo-rows-table").first
    await table.wait_for()
    shown = await _shown_rows(table)
    assert shown == saved and len(shown) >= 4
    assert shown[2][3:5] == ["→ client", "TEXT"]
    diagram = page.locator(f".jp-RenderedSVG {SVG_IMG}").first  # the diagram, as a picture
    assert await diagram.evaluate("img => img.complete && img.naturalWidth > 0")
    assert await page.evaluate("typeof window.pwned") == "undefined"
    await table.scroll_into_view_if_needed()
    await screenshot(page, tmp_path, "static-export-00.png")
    await page.close()
