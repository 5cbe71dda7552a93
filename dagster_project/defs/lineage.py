"""OpenLineage events for runs launched from the Dagster UI, schedules and sensors (`kpi run` emits
its own right after the run): sensors on run success and failure (dagster_project/audit/openlineage.py)."""

import dagster as dg

from dagster_project.audit.openlineage import deliver_lineage, emit_run_lineage
from dagster_project.settings import Settings


def build_lineage_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    def emit(context: dg.RunStatusSensorContext) -> None:
        events = emit_run_lineage(
            context.instance, context.dagster_run.run_id, settings.data_dir, settings.outbound
        )
        context.log.info(f"{len(events)} OpenLineage event(s) for run {context.dagster_run.run_id}")
        delivery = deliver_lineage(settings.data_dir, settings.outbound)  # bounded, never raises
        if delivery is not None:
            (context.log.info if delivery.ok else context.log.warning)(f"OpenLineage: {delivery.describe()}")

    return [
        dg.run_status_sensor(
            run_status=status,
            name=f"openlineage_on_{status.value.lower()}",
            description=f"Emit the OpenLineage events of every run that ends in {status.value}.",
            default_status=dg.DefaultSensorStatus.RUNNING,
        )(emit)
        for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)
    ]
