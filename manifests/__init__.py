"""The shared data model: records, outcomes, the ledger, export schemas. Imports no ML library."""
