// A login link carries the token in the URL fragment (#token=...), which never reaches a server
// log: fill the form with it, forget it from the address bar, and log in.
const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (m) {
  const field = document.getElementById("token");
  field.value = decodeURIComponent(m[1]);
  history.replaceState(null, "", location.pathname);
  document.getElementById("login").requestSubmit();
}
