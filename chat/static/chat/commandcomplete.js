// The composer's `/` completion: typing "/sh" at the start lists the commands hello
// named whose names start with "sh" (with their usage and description); arrows move,
// Enter or Tab put "/shrug " in place, Escape closes (completionlist.js). Which lines
// are commands is commands.js's.

import { commandMatches, commandPrefixAt, commandSignature } from "./commands.js";
import { CompletionList } from "./completionlist.js";

// els: input (the composer's textarea), list (<ul>); commands() -> hello.commands.
export class CommandCompletion {
  constructor(els, commands) {
    this.input = els.input;
    this.commands = commands;
    this.list = new CompletionList(els.input, els.list, {
      renderOption: (item, option) => {
        const name = document.createElement("span");
        name.className = "command-name";
        name.textContent = commandSignature(option);
        const about = document.createElement("span");
        about.className = "command-about";
        about.textContent = option.description || "";
        item.append(name, " ", about);
      },
      choose: (option) => this.choose(option),
    });
    this.input.addEventListener("input", () => this.onInput());
  }

  onInput() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const prefix = commandPrefixAt(this.input.value.slice(0, caret), this.input.value);
    if (prefix === null) {
      this.list.close();
      return;
    }
    this.list.show(commandMatches(this.commands(), prefix));
  }

  choose(option) {
    const text = `/${option.name} `;
    this.input.value = text + this.input.value.slice(this.input.selectionStart ?? this.input.value.length);
    this.input.setSelectionRange(text.length, text.length);
    this.list.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true })); // the draft follows
  }
}
