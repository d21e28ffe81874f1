// The image lightbox: one <dialog> for the page, opened from a thumbnail's link with the
// full image, its name as alt text and caption, a Close button and a link to the
// original. Escape or Close shuts it and the focus goes back to the thumbnail.

let dialog = null;
let opener = null;

function build() {
  dialog = document.createElement("dialog");
  dialog.className = "lightbox";
  dialog.setAttribute("aria-label", "Image");
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.className = "lightbox-image";
  const caption = document.createElement("figcaption");
  const name = document.createElement("span");
  name.className = "lightbox-name";
  const original = document.createElement("a");
  original.className = "lightbox-original";
  original.target = "_blank";
  original.rel = "noopener";
  original.textContent = "Open original";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "lightbox-close";
  close.textContent = "Close";
  close.addEventListener("click", () => dialog.close());
  caption.append(name, original, close);
  figure.append(img, caption);
  dialog.append(figure);
  // A click on the backdrop (outside the figure) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    img.removeAttribute("src");
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
  document.body.append(dialog);
}

// `link`: the thumbnail's <a href=full image> holding its <img alt>.
export function openLightbox(link) {
  if (!dialog) build();
  const thumb = link.querySelector("img");
  const alt = thumb && thumb.alt ? thumb.alt : "image";
  const img = dialog.querySelector(".lightbox-image");
  img.src = link.getAttribute("href");
  img.alt = alt;
  dialog.setAttribute("aria-label", alt);
  dialog.querySelector(".lightbox-name").textContent = alt;
  dialog.querySelector(".lightbox-original").href = link.getAttribute("href");
  opener = link;
  if (!dialog.open) dialog.showModal();
  dialog.querySelector(".lightbox-close").focus();
}
