"""The web chat's page: index.html, app.css, app.js (plain files, no build step; a package so they ship)."""
