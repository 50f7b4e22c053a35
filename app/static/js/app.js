// The server turns the live dot green once its socket is subscribed (see _live_on.html);
// when the socket drops, show it grey until the extension has reconnected.
document.addEventListener("htmx:wsClose", function () {
  var dot = document.getElementById("live-dot");
  if (dot) { dot.classList.remove("on"); dot.title = "Live updates reconnecting"; }
});
