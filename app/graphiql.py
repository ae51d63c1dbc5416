"""GraphiQL served by Chronos itself: the page, its pinned assets and the walkthrough it opens on.

Strawberry's page (``strawberry/static/graphiql.html`` in strawberry-graphql 0.341) loads React,
GraphiQL and the explorer plugin from unpkg, so without internet it stays a blank "Loading…". Here
the same files come from the npm registry at set-up (``npm ci --prefix console``: exact versions in
``console/package.json``, tarball hashes in its lockfile) and the API serves them under
``/graphql/assets/``. Each is checked at start-up against the SRI hash Strawberry's template pins
for it, and the page carries the same ``integrity`` attributes, so browsers run exactly those bytes.
That template also loads js-cookie, only to forward Django's ``csrftoken`` cookie; Chronos sets no
cookie, so that file is left out.

The page opens on a walkthrough of Chronos on the demo sensors of ``make run``'s FIWARE sandbox, one
tab per step; its script (``console/graphiql/chronos-graphiql.js``) fills the ids a step returns
into the variables of the later steps. Nothing here imports GraphQL code: ``schema.asgi`` hands the
page to Strawberry's view.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from fiware.sandbox.demo import SENSORS

log = structlog.get_logger("chronos.graphiql")

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_DIR = ROOT / "console"
ASSET_PATH = "/graphql/assets"
INSTALL_COMMAND = "npm ci --prefix console"
# Versioned URLs never change content, so browsers may keep them for a year without asking.
ASSET_HEADERS = {"cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff"}
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Pinned:
    """A file of an npm package, with the SRI hash Strawberry's template pins for it on unpkg."""

    package: str
    version: str
    file: str
    integrity: str

    @property
    def name(self) -> str:
        return f"{self.package}@{self.version}/{self.file}"

    def path(self, console_dir: Path) -> Path:
        return console_dir / "node_modules" / self.package / self.file


# The order is the page's: React before GraphiQL, GraphiQL before the plugin that extends it.
PINNED = (
    Pinned("react", "18.2.0", "umd/react.production.min.js",
           "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"),
    Pinned("react-dom", "18.2.0", "umd/react-dom.production.min.js",
           "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"),
    Pinned("graphiql", "3.8.3", "graphiql.min.css",
           "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM"),
    Pinned("@graphiql/plugin-explorer", "1.0.2", "dist/style.css",
           "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi"),
    Pinned("graphiql", "3.8.3", "graphiql.min.js",
           "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"),
    Pinned("@graphiql/plugin-explorer", "1.0.2", "dist/index.umd.js",
           "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9"),
)  # fmt: skip
# Our own script (committed source, not build output); its hash is taken at start-up.
OWN_SCRIPT = "graphiql/chronos-graphiql.js"


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    integrity: str

    @property
    def url(self) -> str:
        return f"{ASSET_PATH}/{self.name}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[Path(self.name).suffix]


@dataclass(frozen=True)
class Assets:
    """The files the page needs, read and checked; ``problems`` says what keeps it from working."""

    files: dict[str, Asset] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


def load_assets(console_dir: Path) -> Assets:
    files: dict[str, Asset] = {}
    problems: list[str] = []
    for pinned in PINNED:
        try:
            body = pinned.path(console_dir).read_bytes()
        except OSError:
            problems.append(f"{pinned.name} is not installed")
            continue
        if sri(body) != pinned.integrity:
            problems.append(f"{pinned.name} differs from the pinned file ({pinned.integrity})")
            continue
        files[pinned.name] = Asset(pinned.name, body, pinned.integrity)
    own = console_dir / OWN_SCRIPT
    try:
        body = own.read_bytes()
    except OSError:
        problems.append(f"{own} is missing from the repository")
    else:
        # Named by its hash: a changed script gets a new URL, so the year-long cache stays right.
        name = f"chronos@{hashlib.sha256(body).hexdigest()[:16]}/{own.name}"
        files[name] = Asset(name, body, sri(body))
    return Assets(files, problems)


_READY: dict[Path, Assets] = {}


def installed(console_dir: Path) -> Assets:
    """The assets, read once when complete; an incomplete folder is read again on every call.

    So running the install command while the API runs fixes the page at the next reload.
    """
    if console_dir in _READY:
        return _READY[console_dir]
    assets = load_assets(console_dir)
    if assets.ready:
        _READY[console_dir] = assets
    return assets


def routes(*, enabled: bool, console_dir: Path) -> list[BaseRoute]:
    """The asset route when GraphiQL is on (nothing otherwise); says at start-up what is missing."""
    if not enabled:
        return []
    assets = installed(console_dir)
    if not assets.ready:
        log.warning(
            "graphiql.assets_missing",
            problems=assets.problems,
            fix=f"run `{INSTALL_COMMAND}` in {console_dir.parent} (make run does), then reload /graphql",
        )

    async def asset(request: Request) -> Response:
        found = installed(console_dir).files.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(found.body, media_type=found.content_type, headers=ASSET_HEADERS)

    return [Route(f"{ASSET_PATH}/{{name:path}}", asset, methods=["GET"])]


def ide_response(console_dir: Path) -> Response:
    """GraphiQL with the walkthrough, or a page saying what to run when its files are missing."""
    assets = installed(console_dir)
    # The page names the current asset URLs: a stale copy would ask for files no longer served.
    headers = {"cache-control": "no-cache"}
    if not assets.ready:
        return HTMLResponse(missing_page(assets.problems, console_dir), status_code=503, headers=headers)
    return HTMLResponse(page(assets), headers=headers)


def _json_for_script(value: object) -> str:
    # Inside <script>, "</" would end the element early whatever the JSON means.
    return json.dumps(value).replace("</", "<\\/")


def page(assets: Assets) -> str:
    # Same-origin files with `integrity`: the browser refuses any byte that differs from the pin.
    files = assets.files.values()
    styles = [f'<link rel="stylesheet" href="{a.url}" integrity="{a.integrity}">' for a in files
              if a.name.endswith(".css")]  # fmt: skip
    scripts = [f'<script src="{a.url}" integrity="{a.integrity}"></script>' for a in files
               if a.name.endswith(".js")]  # fmt: skip
    return PAGE.format(
        styles="\n    ".join(styles),
        scripts="\n    ".join(scripts),
        config=_json_for_script(page_config()),
    )


def missing_page(problems: list[str], console_dir: Path) -> str:
    items = "\n".join(f"      <li>{html.escape(problem)}</li>" for problem in problems)
    root = html.escape(str(console_dir.parent))
    return MISSING_PAGE.format(command=html.escape(INSTALL_COMMAND), root=root, items=items)


PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Chronos GraphiQL</title>
    <link rel="icon" href="data:,">
    <style>
      body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
      #graphiql {{ height: 100vh; display: flex; }}
      .graphiql-explorer-actions select {{ margin-left: 4px; }}
    </style>
    {styles}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading…</div>
    <script type="application/json" id="chronos-graphiql">{config}</script>
    {scripts}
  </body>
</html>
"""

MISSING_PAGE = """<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Chronos GraphiQL is not installed</title></head>
  <body style="font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5">
    <h1>GraphiQL's files are not installed</h1>
    <p>Chronos serves GraphiQL from its own <code>console/node_modules</code>, filled from the npm
    registry at set-up. Run this in <code>{root}</code> (<code>make run</code> does it), then reload:</p>
    <pre style="background: #eee; padding: 1em">{command}</pre>
    <p>What is wrong now:</p>
    <ul>
{items}
    </ul>
    <p>The API itself works meanwhile: POST GraphQL requests to <code>/graphql</code>.</p>
  </body>
</html>
"""


# The walkthrough: on the demo sensors `make run`'s FIWARE sandbox seeds (fiware/sandbox/demo.py).
DEMO = SENSORS[0]
FILLS = {
    # variable -> where in a result its value comes from; the page remembers these ids as they
    # arrive and fills them into later tabs that declare the variable and were not given one.
    "modelId": ["createModel", "model", "id"],
    "trainingJobId": ["startTraining", "trainingJob", "id"],
}
FILLED = [
    "${name}: from {source}'s result, filled in",
    "by this page under Variables unless you set your own.",
]


@dataclass(frozen=True)
class Step:
    title: str
    document: str


def _step(number: int, title: str, comments: list[str], body: str) -> Step:
    headline, *rest = comments
    lines = [f"# Chronos walkthrough {number}/{len(_BODIES)}: {headline}", *(f"# {c}" for c in rest)]
    return Step(title, "\n".join(lines) + "\n" + body.strip() + "\n")


_BODIES = {
    "Devices": """
query Devices {
  devices {
    entityType
    entities { entityId deviceId attributes }
  }
}""",
    "CreateModel": f"""
mutation CreateModel {{
  createModel(input: {{
    name: "walkthrough: {DEMO.device_id} {DEMO.attribute}"
    entityType: "{DEMO.entity_type}"
    entityId: "{DEMO.entity_id}"
    feature: "{DEMO.attribute}"
    lookbackWindow: 24
    forecastHorizon: 12
    rnnLayers: [{{units: 16}}]
    epochs: 10
  }}) {{
    model {{
      id name status lookbackWindow forecastHorizon epochs
    }}
    errors {{ code message field }}
  }}
}}""",
    "StartTraining": """
mutation StartTraining($modelId: ID!) {
  startTraining(modelId: $modelId, input: {lastN: 10000}) {
    trainingJob {
      id modelId status pointsAvailable pointsRequested
    }
    errors { code message field }
  }
}""",
    "TrainingProgress": """
subscription TrainingProgress($trainingJobId: ID!) {
  trainingProgress(jobId: $trainingJobId) {
    seq status phase progress message
    dataPointsCollected dataPointsRequested
    epoch totalEpochs loss valLoss etaSeconds
    metrics { rmse mae theilU }
    error { code message }
  }
}""",
    "Predict": """
query Predict($trainingJobId: ID!) {
  predict(trainingJobId: $trainingJobId) {
    generatedAt horizon
    points { step targetTimestamp value }
  }
}""",
    "TogglePrediction": """
mutation TogglePrediction($trainingJobId: ID!) {
  togglePrediction(
    trainingJobId: $trainingJobId
    enabled: true
    input: {intervalSeconds: 900}
  ) {
    prediction {
      entityId entityType enabled intervalSeconds
      nextPredictionAt lastRunAt runCount lastError
    }
    errors { code message field }
  }
}""",
}


def _filled(name: str, source: str) -> list[str]:
    return [line.format(name=name, source=source) for line in FILLED]


# Lines stay within 60 characters: the editor is half of a laptop's screen.
_COMMENTS = {
    "Devices": [
        "the sensors to forecast",
        "Run ▶ (Ctrl-Enter) here, then each tab to the right.",
        "`make run` seeds two demo sensors in its FIWARE sandbox;",
        "a real IoT Agent lists its own devices here.",
        "API keys on? Under Headers below, once for every tab:",
        '  {"Authorization": "Bearer chr_…"}',
    ],
    "CreateModel": [
        "a model of the demo buoy",
        "The id it returns fills $modelId in the next tab.",
        "LSTM of 16 units, 10 epochs: 24 half-hourly readings",
        "in, the next 12 out (6 hours ahead).",
    ],
    "StartTraining": [
        "train it on 10,000 readings",
        *_filled("modelId", "CreateModel"),
        "It uses the newest ones; the job id it returns fills",
        "$trainingJobId in the next tabs.",
    ],
    "TrainingProgress": [
        "follow the training live",
        *_filled("trainingJobId", "StartTraining"),
        "Events arrive over WebSocket until the job ends,",
        "in well under a minute.",
    ],
    "Predict": [
        "forecast the next 6 hours",
        *_filled("trainingJobId", "StartTraining"),
        "From the newest 24 readings in STH-Comet, through the",
        "job's ONNX network.",
    ],
    "TogglePrediction": [
        "forecast every 15 minutes",
        *_filled("trainingJobId", "StartTraining"),
        "Each run updates the Orion entity it names below; run it",
        "again with `enabled: false` to stop.",
    ],
}

WALKTHROUGH = tuple(
    _step(number, title, _COMMENTS[title], body) for number, (title, body) in enumerate(_BODIES.items(), 1)
)


def page_config() -> dict[str, object]:
    """What the page script reads: the default tabs and which result fills which variable."""
    return {
        "tabs": [{"query": step.document} for step in WALKTHROUGH],
        "fills": FILLS,
        # Tabs kept apart from Strawberry's page on the same origin, so the walkthrough shows up
        # for people who used GraphiQL here before.
        "storageNamespace": "chronos-graphiql",
    }


__all__ = ["ASSET_PATH", "PINNED", "WALKTHROUGH", "ide_response", "installed", "load_assets", "routes"]
