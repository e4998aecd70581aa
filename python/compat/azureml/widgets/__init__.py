"""azureml.widgets.RunDetails under trainyard: a run's status, times and metrics.

    from azureml.widgets import RunDetails
    RunDetails(run).show()

In a Jupyter kernel, `show()` displays a view that refreshes in the background until the run
ends (an ipywidgets HTML widget when ipywidgets is installed, else an IPython display updated in
place). Anywhere else it prints the same table once, as text. `get_widget_data()` returns what
the view shows, as a dict.
"""

import html
import sys
import threading
import time

__all__ = ["RunDetails"]

_TERMINAL = ("Completed", "Failed", "Canceled")


def _last(value):
    """(last value, count) of a metric in the hosted shapes: a scalar, a list, or a table
    {column: [values]}."""
    if isinstance(value, list):
        return (value[-1] if value else None), len(value)
    if isinstance(value, dict):
        columns = {k: v[-1] if isinstance(v, list) and v else v for k, v in value.items()}
        count = max((len(v) for v in value.values() if isinstance(v, list)), default=1)
        return columns, count
    return value, 1


def _text(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _jupyter_shell():
    """The IPython kernel's shell when this runs in one (IPython already imported and a kernel
    attached), else None. IPython is never imported here."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a broken IPython means no kernel to draw in
        return None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


class RunDetails:
    """A view of one run: status, start and end times, duration, target, and each metric's last
    value and count."""

    _refresh_seconds = 2.0  # the Jupyter view's refresh period

    def __init__(self, run_instance):
        if not hasattr(run_instance, "get_details") or not hasattr(run_instance, "get_metrics"):
            raise TypeError(f"RunDetails: expected a Run (from experiment.submit or "
                            f"Run(experiment, run_id)), got {run_instance!r}")
        self.run_instance = run_instance
        self._thread = None

    def get_widget_data(self, widget_settings=None):
        """What the view shows: {"run_id", "experiment", "status", "error", "failed_rank",
        "start_time", "end_time", "duration_s", "target",
        "metrics": {name: {"last": value, "count": n}}}."""
        details = self.run_instance.get_details()
        metrics = self.run_instance.get_metrics()
        start, end = details.get("startTimeUtc"), details.get("endTimeUtc")
        duration = None
        info = details.get("trainyard") or {}
        if isinstance(info, dict) and isinstance(info.get("duration_seconds"), (int, float)):
            duration = info["duration_seconds"]
        elif start and end:
            duration = _seconds(end) - _seconds(start)
        error = details.get("error") or (info.get("error") if isinstance(info, dict) else None)
        if isinstance(error, dict):
            error = (error.get("error") or error).get("message") or str(error)
        return {
            "run_id": details.get("runId", getattr(self.run_instance, "id", None)),
            "experiment": details.get("experiment"),
            "status": details.get("status"),
            "error": error or None,
            "failed_rank": details.get("failedRank"),
            "start_time": start,
            "end_time": end,
            "duration_s": duration,
            "target": details.get("target"),
            "metrics": {name: dict(zip(("last", "count"), _last(value)))
                        for name, value in metrics.items()},
        }

    def _rows(self, data):
        rows = [("run", data["run_id"])]
        if data["experiment"]:
            rows.append(("experiment", data["experiment"]))
        rows += [("status", data["status"]), ("target", data["target"]),
                 ("started", data["start_time"] or "-"), ("ended", data["end_time"] or "-")]
        if data["duration_s"] is not None:
            rows.append(("duration", f"{data['duration_s']:.1f} s"))
        if data["failed_rank"] is not None:
            rows.append(("failed rank", data["failed_rank"]))
        if data["error"]:
            rows.append(("error", data["error"]))
        return rows

    def _render_text(self, data):
        rows = self._rows(data)
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        if data["metrics"]:
            names = sorted(data["metrics"])
            name_w = max(len("metric"), *(len(n) for n in names))
            lines += ["", f"{'metric':<{name_w}}  {'last':>14}  count"]
            for n in names:
                m = data["metrics"][n]
                lines.append(f"{n:<{name_w}}  {_text(m['last']):>14}  {m['count']}")
        else:
            lines += ["", "no metrics logged"]
        return "\n".join(lines)

    def _render_html(self, data):
        esc = html.escape
        out = ["<div class='trainyard-run-details'><table>"]
        out += [f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
                for k, v in self._rows(data)]
        out.append("</table>")
        if data["metrics"]:
            out.append("<table><tr><th>metric</th><th>last</th><th>count</th></tr>")
            for n in sorted(data["metrics"]):
                m = data["metrics"][n]
                out.append(f"<tr><td>{esc(n)}</td><td>{esc(_text(m['last']))}</td>"
                           f"<td>{m['count']}</td></tr>")
            out.append("</table>")
        if data["status"] not in _TERMINAL:
            out.append(f"<p><i>refreshing every {self._refresh_seconds:g} s until the run "
                       f"ends</i></p>")
        out.append("</div>")
        return "".join(out)

    def show(self):
        """In Jupyter: a live view, refreshed until the run ends (returns at once). Elsewhere:
        prints the table once."""
        if _jupyter_shell() is None:
            print(self._render_text(self.get_widget_data()), flush=True)
            return
        self._show_live()

    def _show_live(self):
        from IPython.display import HTML, display

        data = self.get_widget_data()
        try:
            import ipywidgets
        except ImportError:
            ipywidgets = None
        if ipywidgets is not None:
            widget = ipywidgets.HTML(value=self._render_html(data))
            display(widget)

            def update(text):
                widget.value = text
        else:
            handle = display(HTML(self._render_html(data)), display_id=True)

            def update(text):
                handle.update(HTML(text))

        if data["status"] in _TERMINAL:
            return

        def follow():
            while True:
                time.sleep(self._refresh_seconds)
                try:
                    current = self.get_widget_data()
                except Exception as e:  # noqa: BLE001 - shown in the view, which then stops
                    update(f"<pre>{html.escape(str(e))}</pre>")
                    return
                update(self._render_html(current))
                if current["status"] in _TERMINAL:
                    return

        self._thread = threading.Thread(target=follow, name="RunDetails", daemon=True)
        self._thread.start()


def _seconds(stamp):
    from datetime import datetime

    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
