"""A new service with no pathways yet: every report renders, with zeros and no plots."""

from datetime import date

from core.db import get_engine, migrate
from registry.config import RegistrySettings
from registry.export import export_csv
from reports.audit import audit_report, render_audit_csv, render_audit_html
from reports.dashboard import ops_dashboard, worklist
from reports.metrics import metrics_response


def test_reports_on_an_empty_read_model(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    engine = get_engine(url)
    today = date(2026, 11, 25)
    dash = ops_dashboard(engine, today)
    assert (dash.total_pathways, dash.tasks, dash.reminders.pending) == (0, [], 0)
    assert all(c.share_within_target is None for c in dash.clocks)
    assert worklist(engine, "coordinator", today=today) == []
    assert b"sirt_outbox_backlog 0.0" in metrics_response(engine, today=lambda: today)
    report = audit_report(engine, today)
    assert (report.treated, report.os.median_months, report.os_plot_png) == (0, None, None)
    assert "0 treated patients" in render_audit_html(report)
    assert render_audit_csv(report).startswith("section,")
    settings = RegistrySettings(pseudonym_secret="s", _env_file=None)
    assert export_csv(engine, settings).splitlines()[0].startswith("record_id,")
    engine.dispose()
