"""HTTP: Bandwidth's Voice API paths, Switchboard's own paths, auth and error rendering."""
