// The server turns the live dot green once its socket is subscribed (see _live_on.html);
// when the socket drops, show it grey until the extension has reconnected.
document.addEventListener("htmx:wsClose", function () {
  var dot = document.getElementById("live-dot");
  if (dot) { dot.classList.remove("on"); dot.title = "Live updates reconnecting"; }
});

// A button with data-copy="<element id>" copies that element's text (shown-once secrets).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) { return; }
  var source = document.getElementById(button.dataset.copy);
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard) {  // only on https or localhost
    navigator.clipboard.writeText(source.textContent.trim()).then(done);
    return;
  }
  // Plain http on the plant network: select the text and copy the selection.
  var range = document.createRange();
  range.selectNodeContents(source);
  window.getSelection().removeAllRanges();
  window.getSelection().addRange(range);
  if (document.execCommand("copy")) { done(); }
});
