"""Many Switchboard nodes on one PostgreSQL (issue 18; DESIGN.md, "Scale-out")."""
