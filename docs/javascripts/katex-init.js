// Typeset math with the KaTeX the site serves itself (pymdownx.arithmatex, generic mode),
// and re-run after each instant navigation. $...$ delimiters cover notebook markdown cells too.
(function () {
  function render(root) {
    if (typeof renderMathInElement !== "function") return;
    renderMathInElement(root, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false },
      ],
      ignoredClasses: ["highlight", "highlight-ipynb", "quiz-data"],
      throwOnError: false,
    });
  }
  window.longctxRenderMath = render;
  if (typeof document$ !== "undefined") {
    document$.subscribe(function () { render(document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document.body); });
  }
})();
