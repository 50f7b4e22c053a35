// Shows whether the live-update socket is connected (green dot in the top bar).
document.addEventListener("htmx:wsOpen", function () {
  var dot = document.getElementById("live-dot");
  if (dot) { dot.classList.add("on"); dot.title = "Live updates on"; }
});
document.addEventListener("htmx:wsClose", function () {
  var dot = document.getElementById("live-dot");
  if (dot) { dot.classList.remove("on"); dot.title = "Live updates reconnecting"; }
});
