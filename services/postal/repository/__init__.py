"""Every query of the postal service, one module per use case. Nothing here commits: the caller's boundary does.

Rows that a concurrent worker could change under us are read `FOR UPDATE` (PostgreSQL; SQLite serialises writers
with BEGIN IMMEDIATE and ignores the clause), and work queues are claimed with `SKIP LOCKED` so two replicas share
them instead of queueing behind each other. Locks are taken in one order — waybill, dispatch, receptacle — except
that an open receptacle, which belongs to no dispatch yet, is locked before the dispatch it joins.

- waybills: issue, release and bag a parcel, and the events kept for an order not issued yet;
- read_ahead: what a consumer batch reads about its parcels before its handlers run;
- numbering: the named sequences tracking numbers and dispatch serials come from;
- bagging: receptacles, dispatches and the waybills in them (consolidation, manifests, handoff);
- tracking: carrier events on handed-off parcels.
"""

from services.postal.repository.bagging import (
    add_dispatch,
    add_receptacle,
    aged_open_receptacles,
    claimable_dispatches,
    closed_receptacles_of,
    due_open_dispatches,
    find_dispatch,
    get_dispatch,
    get_receptacle,
    hand_off_parcels,
    list_dispatches,
    lock_parcels_of_dispatch,
    open_dispatch,
    open_receptacle,
    parcels_in_receptacles,
    receptacle_labels,
    receptacles_of,
    set_dispatch_of_receptacle,
)
from services.postal.repository.base import held_in_transaction
from services.postal.repository.numbering import allocate, give_back
from services.postal.repository.read_ahead import (
    IssueState,
    issue_state,
    issued_for_release,
    lock_issued_for_release,
    read_ahead_issues,
    will_issue,
)
from services.postal.repository.tracking import (
    add_tracking_events,
    lock_tracked_parcels,
    set_tracking_statuses,
    tracking_events_of,
    tracking_histories,
)
from services.postal.repository.waybills import (
    Release,
    add_pending,
    bag_waybill,
    get_waybill,
    get_waybill_by_order,
    hold_waybill,
    insert_waybill,
    release_waybill,
    stranded_pending_orders,
    take_pending,
    take_pending_kind,
)

__all__ = [
    "IssueState", "Release", "add_dispatch", "add_pending", "add_receptacle", "add_tracking_events",
    "aged_open_receptacles", "allocate", "bag_waybill", "claimable_dispatches", "closed_receptacles_of",
    "due_open_dispatches", "find_dispatch", "get_dispatch", "get_receptacle", "get_waybill", "get_waybill_by_order",
    "give_back", "hand_off_parcels", "held_in_transaction", "hold_waybill", "insert_waybill", "issue_state",
    "issued_for_release", "list_dispatches", "lock_issued_for_release", "lock_parcels_of_dispatch",
    "lock_tracked_parcels", "open_dispatch", "open_receptacle", "parcels_in_receptacles", "read_ahead_issues",
    "receptacle_labels", "receptacles_of", "release_waybill", "set_dispatch_of_receptacle", "set_tracking_statuses",
    "stranded_pending_orders", "take_pending", "take_pending_kind", "tracking_events_of", "tracking_histories",
    "will_issue",
]
