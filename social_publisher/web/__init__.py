"""The staff web console (``social-publisher web``, ``run --web``): a top layer beside the CLI.

Starlette + Jinja2 (server-rendered pages, so every page works without JavaScript) with
htmx for the calendar's filters and the post page's live status, served by uvicorn;
static files ship in the package (no CDN). It calls services only, through a
:class:`~social_publisher.services.scope.Scope` per request. Nothing here is imported
unless the console runs: the daemon with the console off loads none of it.
"""
