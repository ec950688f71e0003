"""REST transport: translates HTTP <-> the service layer; no logic, no SQL."""
