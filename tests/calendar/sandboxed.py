"""A workflow that uses the calendar, to prove it runs in Temporal's sandbox."""

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.calendar import CalendarConfig


@workflow.defn(sandboxed=True)
class CalendarProbeWorkflow:
    """Computes a due date and a reminder instant from its input and workflow time."""

    @workflow.run
    async def run(self, config: CalendarConfig) -> list[str]:
        calendar = config.calendar()
        due = calendar.add_working_days(date(2026, 12, 24), 1)
        today = calendar.local_date(workflow.now())
        return [due.isoformat(), calendar.reminder_time(due).isoformat(), str(today.year > 2000)]
