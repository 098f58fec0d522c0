// "Select all" checkboxes of the queue and plan tables (no inline scripts: the CSP allows 'self' only).
document.addEventListener("change", (event) => {
  if (!event.target.classList.contains("all")) return;
  const form = event.target.closest("form");
  form.querySelectorAll("input[type=checkbox][name=id], input[type=checkbox][name=line], input[type=checkbox][name=record]")
    .forEach((box) => { box.checked = event.target.checked; });
});
