// The parameters of a schedule template, edited through a form built from the chosen task type's JSON
// Schema (the description /tasks/system/task-info/ serves, embedded in the page). The JSON textarea stays
// the value that is posted, and the way to edit what the form cannot show (nested objects, oneOf, ...).
// The server validates; its errors ("parameters.<name>: ...") are repeated beside the fields they name.
"use strict";
(function () {
  var SIMPLE = { string: true, integer: true, number: true, boolean: true };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function kindOf(prop) {
    if (prop.enum) { return "enum"; }
    if (SIMPLE[prop.type]) { return prop.type; }
    if (prop.type === "array" && prop.items && SIMPLE[prop.items.type] && prop.items.type !== "boolean") {
      return "list";
    }
    return null;
  }

  function parseScalar(text, type) {
    var t = text.trim();
    if ((type === "integer" && /^-?\d+$/.test(t)) || (type === "number" && t !== "" && !isNaN(Number(t)))) {
      return Number(t);
    }
    return t;  // the server names what is wrong with it
  }

  function setup(box) {
    var textarea = box.querySelector("textarea");
    var fieldsBox = box.querySelector(".megahub-params-fields");
    var details = box.querySelector("details");
    var select = document.getElementById(box.dataset.taskTypeSelect);
    var schemas = JSON.parse(document.getElementById(box.dataset.schemas).textContent);
    var inputs = {};
    var serverErrors = {};
    var row = box.closest(".form-row");
    if (row) {
      row.querySelectorAll("ul.errorlist li").forEach(function (li) {
        var m = /^parameters\.([^.:]+)[^:]*: (.*)$/.exec(li.textContent);
        if (m) { (serverErrors[m[1]] = serverErrors[m[1]] || []).push(m[2]); }
      });
    }

    function current() {
      try {
        var value = JSON.parse(textarea.value.trim() || "{}");
        return value && typeof value === "object" && !Array.isArray(value) ? value : null;
      } catch (e) {
        return null;
      }
    }

    function note(text) {
      fieldsBox.appendChild(el("p", { "class": "megahub-params-note" }, text));
      details.open = true;
    }

    function write() {
      var value = current() || {};
      Object.keys(inputs).forEach(function (name) {
        var spec = inputs[name];
        var input = spec.input;
        var raw = input.type === "checkbox" ? input.checked : input.value;
        if (spec.kind === "boolean") {
          if (raw) { value[name] = true; } else if (name in value) { value[name] = false; }
          return;
        }
        if (String(raw).trim() === "") { delete value[name]; return; }
        if (spec.kind === "list") {
          value[name] = raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean)
            .map(function (s) { return parseScalar(s, spec.prop.items.type); });
        } else if (spec.kind === "integer" || spec.kind === "number") {
          value[name] = parseScalar(raw, spec.kind);
        } else {
          value[name] = raw;
        }
      });
      textarea.value = JSON.stringify(value, null, 2);
    }

    function field(name, prop, required, value) {
      var kind = kindOf(prop);
      var id = textarea.id + "-" + name;
      var wrap = el("div", { "class": "megahub-param", "data-param": name });
      var label = el("label", { "for": id }, (prop.title || name) + (required ? " *" : ""));
      wrap.appendChild(label);
      var input;
      if (kind === "enum") {
        input = el("select", { id: id, name: "" });
        input.appendChild(el("option", { value: "" }, "default" in prop ? "(default: " + prop["default"] + ")" : "---------"));
        prop.enum.forEach(function (choice) { input.appendChild(el("option", { value: choice }, String(choice))); });
        input.value = value === undefined ? "" : String(value);
      } else if (kind === "boolean") {
        input = el("input", { id: id, type: "checkbox" });
        input.checked = value === true;
      } else if (kind === "string" && ((box.ui[name] || {}).widget === "textarea")) {
        input = el("textarea", { id: id, rows: 3, cols: 50 });
        input.value = value === undefined ? "" : String(value);
      } else {
        input = el("input", { id: id, type: "text" });
        if (kind === "integer" || kind === "number") { input.setAttribute("inputmode", "decimal"); }
        if (kind === "list") {
          input.setAttribute("placeholder", "comma-separated, e.g. 1, 2, 3");
          input.value = Array.isArray(value) ? value.join(", ") : (value === undefined ? "" : String(value));
        } else {
          input.value = value === undefined ? "" : String(value);
          if ("default" in prop) { input.setAttribute("placeholder", "default: " + prop["default"]); }
        }
      }
      input.addEventListener("input", write);
      input.addEventListener("change", write);
      wrap.appendChild(input);
      var hints = [];
      if (prop.description) { hints.push(prop.description); }
      if ("minimum" in prop || "maximum" in prop) {
        hints.push("from " + ("minimum" in prop ? prop.minimum : "-∞") + " to " + ("maximum" in prop ? prop.maximum : "∞"));
      }
      if ((box.ui[name] || {}).suffix) { hints.push("in " + box.ui[name].suffix); }
      if (hints.length) { wrap.appendChild(el("div", { "class": "help" }, hints.join("; "))); }
      var errors = serverErrors[name] || [];
      if (errors.length) {
        input.setAttribute("aria-invalid", "true");
        var list = el("ul", { "class": "errorlist megahub-param-errors" });
        errors.forEach(function (msg) { list.appendChild(el("li", {}, msg)); });
        wrap.appendChild(list);
      }
      inputs[name] = { input: input, kind: kind, prop: prop };
      return wrap;
    }

    function render() {
      fieldsBox.textContent = "";
      inputs = {};
      var description = schemas[select ? select.value : ""];
      if (!description) { note("Choose a task type to edit its parameters."); return; }
      var schema = description.parameters_schema || {};
      var props = schema.properties || {};
      box.ui = description.ui || {};
      var names = Object.keys(props);
      var unsupported = names.filter(function (n) { return !kindOf(props[n]); });
      if (schema.oneOf || schema.anyOf || schema.allOf || unsupported.length) {
        note("The parameters of " + description.name + " are edited as JSON below.");
        return;
      }
      var value = current();
      if (value === null) { note("The JSON below is not an object: fix it to use the form."); return; }
      if (!names.length) { note(description.name + " takes no parameters."); return; }
      var required = schema.required || [];
      names.forEach(function (name) {
        fieldsBox.appendChild(field(name, props[name], required.indexOf(name) >= 0, value[name]));
      });
    }

    if (select) {
      select.addEventListener("change", function () {
        var props = ((schemas[select.value] || {}).parameters_schema || {}).properties || {};
        var value = current() || {};
        Object.keys(value).forEach(function (k) { if (!(k in props)) { delete value[k]; } });
        textarea.value = JSON.stringify(value, null, 2);
        serverErrors = {};
        render();
      });
    }
    textarea.addEventListener("change", render);
    render();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".megahub-params").forEach(setup);
  });
})();
