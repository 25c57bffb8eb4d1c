// Refreshes the dashboard every few seconds by fetching the page again and swapping its
// contents; paused by its button, and while the tab is hidden.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("dbq-dashboard");
    var button = document.getElementById("dbq-pause");
    if (!box || !button) {
        return;
    }
    var seconds = parseInt(box.dataset.refreshSeconds, 10) || 5;
    var paused = false;
    button.addEventListener("click", function () {
        paused = !paused;
        button.textContent = paused ? "Resume" : "Pause";
        button.setAttribute("aria-pressed", paused ? "true" : "false");
    });
    // The next refresh is scheduled when this one has finished, so a slow page never has
    // several fetches in flight at once.
    function later() {
        window.setTimeout(refresh, seconds * 1000);
    }
    function refresh() {
        if (paused || document.hidden) {
            later();
            return;
        }
        fetch(window.location.href, {credentials: "same-origin"})
            .then(function (response) { return response.ok ? response.text() : null; })
            .then(function (html) {
                if (!html) {
                    return;
                }
                var page = new DOMParser().parseFromString(html, "text/html");
                var fresh = page.getElementById("dbq-dashboard");
                if (fresh) {
                    box.innerHTML = fresh.innerHTML;
                }
            })
            .catch(function () { /* try again at the next refresh */ })
            .then(later);
    }
    later();
});
