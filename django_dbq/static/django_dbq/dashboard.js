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
    window.setInterval(function () {
        if (paused || document.hidden) {
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
            .catch(function () { /* try again at the next tick */ });
    }, seconds * 1000);
});
