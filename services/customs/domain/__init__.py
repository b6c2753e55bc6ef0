"""Pure customs rules: no I/O, no database, no event loop.

Modules: policy (thresholds and rates), money (currency conversion), hs (HS code helpers), forms (which
customs form a parcel needs), tax (B2C composite and general-trade tax), matching (three-document match),
risk (risk rules, lane, score and decision), status (CEB receipt codes and broker transitions), errors.
"""
