"""The routers, one per resource group."""
