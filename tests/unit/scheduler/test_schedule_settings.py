"""The schedules: and alerts: sections: validation, job specs, triggers, job defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from basics.errors import ConfigError
from core.settings import SegbridgeConfig, load_config
from scheduler.jobs import build_jobs, cron_trigger, interval_of, misfire_grace
from scheduler.schedule_settings import AlertsConfig, SchedulesConfig, SmtpChannel

pytestmark = pytest.mark.unit

CONFIG = """\
database: {url: "sqlite:///x.db"}
systems:
  sap: {kind: sap_odata}
  oracle: {kind: oracle_soap}
  crm: {kind: salesforce, enabled: false}
schedules:
  timezone: Europe/Berlin
  steps:
    pull: {cron: "0 */4 * * *"}
    segment: {depends_on: [pull]}
    plan: {depends_on: [segment]}
    apply: {depends_on: [plan]}
    reconcile: {cron: "30 6 * * 1-5", timezone: UTC, depends_on: [apply]}
alerts:
  channels:
    ops: {type: webhook, url: "https://hooks.example.com/${HOOK_PATH}",
          headers: {Authorization: "Bearer ${HOOK_TOKEN}", X-Team: supply}}
    mail: {type: smtp, host: smtp.example.com, username: "${SMTP_USER}", password: "${SMTP_PASSWORD}",
           from: segbridge@example.com, to: [ops@example.com]}
  rules:
    - {when: failure}
    - {when: exceptions, min_severity: high, channels: [mail]}
"""


def _config(tmp_path, text: str = CONFIG) -> SegbridgeConfig:
    path = tmp_path / "segbridge.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _jobs(config: SegbridgeConfig):
    systems = [n for n, s in config.systems.items() if s.enabled]
    return {j.id: j for j in build_jobs(config.section("schedules", SchedulesConfig), systems)}


def test_jobs_have_stable_ids_per_system_and_expanded_dependencies(tmp_path):
    jobs = _jobs(_config(tmp_path))
    assert list(jobs) == ["pull:sap", "pull:oracle", "segment", "plan", "apply", "reconcile"]
    assert (jobs["pull:sap"].step, jobs["pull:sap"].system) == ("pull", "sap")
    assert jobs["segment"].depends_on == ["pull:sap", "pull:oracle"]
    assert jobs["segment"].trigger is None
    assert jobs["segment"].describe_trigger() == "after pull:sap, pull:oracle"
    assert jobs["reconcile"].depends_on == ["apply"]
    assert jobs["reconcile"].timezone == "UTC"
    assert jobs["pull:oracle"].timezone == "Europe/Berlin"


def test_job_defaults_are_explicit_and_grace_is_sized_to_the_interval(tmp_path):
    jobs = _jobs(_config(tmp_path))
    pull = jobs["pull:sap"]
    assert (pull.coalesce, pull.max_instances) == (True, 1)
    assert pull.misfire_grace_time == 3600  # every 4 h: half would be 2 h, capped at 1 h
    assert jobs["reconcile"].misfire_grace_time == 3600
    every_minute = SchedulesConfig.model_validate({"steps": {"segment": {"cron": "* * * * *"}}})
    assert build_jobs(every_minute, [])[0].misfire_grace_time == 30
    fast = SchedulesConfig.model_validate({"steps": {"segment": {"every_seconds": 1}}})
    assert build_jobs(fast, [])[0].misfire_grace_time == 1
    fixed = SchedulesConfig.model_validate({"defaults": {"misfire_grace_time": 45, "coalesce": False},
                                            "steps": {"segment": {"cron": "* * * * *"}}})
    assert (build_jobs(fixed, [])[0].misfire_grace_time, build_jobs(fixed, [])[0].coalesce) == (45, False)


def test_cron_in_its_time_zone_and_crontab_weekdays():
    trig = cron_trigger("30 6 * * 1-5", "Europe/Berlin")
    friday = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # a Friday
    nxt = trig.get_next_fire_time(None, friday)
    assert nxt == datetime(2024, 3, 4, 6, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # Monday, Berlin time
    sunday = cron_trigger("0 0 * * 0", "UTC").get_next_fire_time(None, friday)
    assert sunday == datetime(2024, 3, 3, 0, 0, tzinfo=ZoneInfo("UTC"))
    seconds = cron_trigger("*/10 * * * * *", "UTC")
    assert interval_of(seconds, friday) == 10.0
    assert interval_of(trig, friday) == 86400.0


def test_misfire_grace_bounds():
    from scheduler.schedule_settings import JobDefaults

    assert misfire_grace(JobDefaults(), None) == 3600
    assert misfire_grace(JobDefaults(), 0.5) == 1
    assert misfire_grace(JobDefaults(), 600) == 300


@pytest.mark.parametrize("steps, message", [
    ({"segmnt": {"cron": "* * * * *"}}, "unknown step 'segmnt'; did you mean 'segment'?"),
    ({"segment": {"cron": "61 * * * *"}}, "cron '61 * * * *'"),
    ({"segment": {"cron": "* * *"}}, "expected 5 fields"),
    ({"segment": {"cron": "* * * * *", "timezone": "Mars/Olympus"}}, "unknown time zone 'Mars/Olympus'"),
    ({"segment": {"depends_on": ["pull"]}}, "depends on 'pull', which is not scheduled"),
    ({"segment": {}}, "a step needs cron, every_seconds or depends_on"),
    ({"segment": {"cron": "* * * * *", "every_seconds": 5}}, "either cron or every_seconds"),
    ({"segment": {"cron": "* * * * *", "systems": ["sap"]}}, "systems applies to pull only"),
])
def test_bad_schedules_are_refused(steps, message):
    with pytest.raises(ValueError) as info:
        SchedulesConfig.model_validate({"steps": steps})
    assert message in str(info.value)


def test_errors_point_at_the_line(tmp_path):
    text = CONFIG.replace('segment: {depends_on: [pull]}', 'segment: {depends_on: [pull], cronn: "* * * * *"}')
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, text).section("schedules")
    assert "segbridge.yaml:10:" in str(info.value)
    assert "schedules.steps.segment.cronn: unknown key" in str(info.value)
    assert "did you mean 'cron'?" in str(info.value)


def test_pull_system_must_be_enabled(tmp_path):
    text = CONFIG.replace('pull: {cron: "0 */4 * * *"}', 'pull: {cron: "0 */4 * * *", systems: [crm]}')
    with pytest.raises(ConfigError) as info:
        _jobs(_config(tmp_path, text))
    assert "'crm' is not an enabled system" in str(info.value)


def test_alert_channels_keep_references(tmp_path):
    alerts = _config(tmp_path).section("alerts", AlertsConfig)
    assert alerts.channels["ops"].headers["Authorization"] == "Bearer ${HOOK_TOKEN}"
    mail = alerts.channels["mail"]
    assert isinstance(mail, SmtpChannel)
    assert (mail.password, mail.sender, mail.port, mail.starttls) == ("${SMTP_PASSWORD}", "segbridge@example.com",
                                                                      587, True)
    assert [(r.when, r.min_severity, r.channels) for r in alerts.rules] == [
        ("failure", "high", None), ("exceptions", "high", ["mail"])]


@pytest.mark.parametrize("alerts, message", [
    ({"channels": {"m": {"type": "smtp", "host": "h", "password": "hunter2", "from": "a@b", "to": ["c@d"]}}},
     "password must be an ${ENV_VAR} reference"),
    ({"channels": {"w": {"type": "webhook", "url": "https://x", "headers": {"X-Api-Key": "abc123"}}}},
     "header X-Api-Key must use an ${ENV_VAR} reference"),
    ({"channels": {}, "rules": [{"when": "failure", "channels": ["pager"]}]},
     "names channel 'pager', which is not configured"),
    ({"channels": {"w": {"type": "pager", "url": "x"}}}, "does not match any of the expected tags"),
])
def test_bad_alerts_are_refused(alerts, message):
    with pytest.raises(ValueError) as info:
        AlertsConfig.model_validate(alerts)
    assert message in str(info.value)


def test_sections_are_registered_for_validate_and_schema():
    from basics.yaml_loader import registered_kinds
    from core.settings import _SECTIONS

    assert _SECTIONS["schedules"] is SchedulesConfig
    assert _SECTIONS["alerts"] is AlertsConfig
    assert registered_kinds()["schedules"] is SchedulesConfig
