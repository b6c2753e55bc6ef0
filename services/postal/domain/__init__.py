"""Pure postal rules: identifiers (S10, S9, waybills), consolidation, tracking codes and manifests. No I/O."""
