"""The `nocturne` command: one caller of the app's Python API, one module per command group."""
