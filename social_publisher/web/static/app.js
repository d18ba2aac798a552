// The console's own script (no inline script: the CSP allows only files from this site).
// It only improves pages that work without it: the composer's photo list (add by drag and
// drop, reorder by dragging or the arrows, remove, choose the cover) fills `thu_tu`.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var form = document.getElementById("soan");
    if (!form) return;
    var list = document.getElementById("anh-list");
    var input = document.getElementById("anh-moi");
    var order = document.getElementById("thu-tu");
    var zone = document.getElementById("tha-anh");
    var kept = new DataTransfer(); // the new photos, in the order they were added
    order.disabled = false;

    function sync() {
      var tokens = [];
      list.querySelectorAll("li.photo:not(.removed):not(.off)").forEach(function (li) { tokens.push(li.dataset.token); });
      order.value = tokens.join(",");
    }
    function item(file, index) {
      var li = document.createElement("li");
      li.className = "photo";
      li.draggable = true;
      li.dataset.token = "moi:" + index;
      var img = document.createElement("img");
      img.alt = "";
      img.src = URL.createObjectURL(file);
      var name = document.createElement("span");
      name.textContent = file.name;
      var cover = document.createElement("label");
      cover.className = "check";
      var radio = document.createElement("input");
      radio.type = "radio"; radio.name = "anh_bia"; radio.value = "moi:" + index;
      cover.appendChild(radio);
      cover.appendChild(document.createTextNode(" ảnh bìa Zalo"));
      var move = document.createElement("span");
      move.className = "move";
      [["up", "↑", "Lên"], ["down", "↓", "Xuống"], ["remove", "✕", "Bỏ ảnh"]].forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button"; button.className = b[0]; button.textContent = b[1];
        button.setAttribute("aria-label", b[2]);
        move.appendChild(button);
      });
      li.append(img, name, cover, move);
      return li;
    }
    function add(files) {
      Array.prototype.forEach.call(files, function (file) {
        if (!/^image\//.test(file.type) && !/\.(heic|heif)$/i.test(file.name)) return;
        kept.items.add(file);
        list.appendChild(item(file, kept.files.length - 1));
      });
      input.files = kept.files;
      sync();
    }
    input.addEventListener("change", function () {
      var chosen = Array.prototype.slice.call(input.files);
      input.files = kept.files; // keep what was added before
      add(chosen);
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) return;
      var li = button.closest("li.photo");
      if (button.classList.contains("up") && li.previousElementSibling) li.parentNode.insertBefore(li, li.previousElementSibling);
      if (button.classList.contains("down") && li.nextElementSibling) li.parentNode.insertBefore(li.nextElementSibling, li);
      if (button.classList.contains("remove")) li.classList.add("removed");
      sync();
    });
    list.addEventListener("change", function (event) {
      if (event.target.name === "anh_cu") {
        event.target.closest("li.photo").classList.toggle("off", !event.target.checked);
        sync();
      }
    });
    var dragged = null;
    list.addEventListener("dragstart", function (event) {
      dragged = event.target.closest("li.photo");
      if (dragged) dragged.classList.add("dragging");
    });
    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
      sync();
    });
    list.addEventListener("dragover", function (event) {
      if (!dragged) return;
      event.preventDefault();
      var over = event.target.closest("li.photo");
      if (!over || over === dragged) return;
      var box = over.getBoundingClientRect();
      var after = event.clientY > box.top + box.height / 2;
      over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        if (dragged) return;
        event.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      if (dragged) return;
      event.preventDefault();
      add(event.dataTransfer.files);
    });
    form.addEventListener("submit", sync);
    sync();
  });
})();
