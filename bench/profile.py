"""A py-spy profile (collapsed stacks) summed up: where the on-CPU samples of a run went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# The innermost frame whose file matches decides a sample's component.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("/json/", "JSON"),
    ("/botocore/", "AWS SDK (botocore)"),
    ("/boto3/", "AWS SDK (botocore)"),
    ("/urllib3/", "HTTP client (urllib3)"),
    ("/requests/", "HTTP client (requests)"),
    ("/http/client.py", "HTTP client (http.client)"),
    ("/email/", "HTTP client (http.client)"),
    ("/socket.py", "sockets"),
    ("/ssl.py", "sockets"),
    ("/aws_lambda_powertools/", "Powertools batch"),
    ("/concurrent/futures", "thread pool"),
    ("/threading.py", "thread pool"),
    ("/worker/", "Fanout worker"),
    ("/splitter/", "Fanout splitter"),
    ("/infra/", "Fanout local runtime"),
    ("/fanout/", "Fanout shared"),
    ("/moto/", "emulator (moto)"),
    ("/werkzeug/", "emulator (moto)"),
    ("/flask/", "emulator (moto)"),
)


@dataclass(frozen=True)
class Summary:
    samples: int
    components: list[tuple[str, float]]
    functions: list[tuple[str, float]]


# Thread pool and lock frames say little on their own: a sample goes to them only when nothing
# else in its stack matches.
_FALLBACK = {"thread pool"}


def component_of(frames: list[str]) -> str:
    fallback = "other"
    for frame in reversed(frames):
        # py-spy shortens paths (`json/encoder.py`); a leading "/" makes both forms match.
        where = "/" + frame.partition(" (")[2]
        for marker, component in COMPONENTS:
            if marker in where:
                if component not in _FALLBACK:
                    return component
                fallback = component
    return fallback


def summarize(collapsed: str, top: int = 12) -> Summary:
    """Shares of on-CPU samples by component and by innermost function."""
    components: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        components[component_of(frames)] += count
        functions[_short(frames[-1])] += count
    share = (lambda n: round(n / total, 3)) if total else (lambda n: 0.0)
    return Summary(
        total,
        [(name, share(n)) for name, n in components.most_common()],
        [(name, share(n)) for name, n in functions.most_common(top)],
    )


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if path else name
