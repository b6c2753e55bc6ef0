"""The consumer map documented in the AsyncAPI document is what each service really subscribes to."""

from __future__ import annotations

import pytest

from shared.contract.subjects import CONSUMERS
from shared.services import SERVICE_NAMES, create_app_for, settings_for


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_handles_exactly_the_events_the_contract_says_it_consumes(service):
    app = create_app_for(service, settings_for(service, migrate_on_start=False))
    handled = sorted(event.event_type() for event in app.state.runtime.handlers)
    assert handled == sorted(CONSUMERS[service])
