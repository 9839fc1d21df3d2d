// Applies the remembered theme and sidebar state before the first paint.
(function () {
  'use strict';
  var root = document.documentElement;
  var theme = null;
  var sidebar = null;
  try {
    theme = localStorage.getItem('mcpgw.theme');
    sidebar = localStorage.getItem('mcpgw.sidebar');
  } catch (e) {
    // Storage may be disabled; fall back to the system preference.
  }
  if (theme !== 'dark' && theme !== 'light') {
    theme = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  root.setAttribute('data-theme', theme);
  if (sidebar === 'collapsed') {
    root.classList.add('sidebar-collapsed');
  }
})();
