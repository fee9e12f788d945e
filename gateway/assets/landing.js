// Landing page: "Start streaming" leads to registration, or straight to the dashboard when logged in.

import { currentUser } from './api.js';
import { setPlatform } from './message.js';
import { showAccount } from './topbar.js';

// The example feed is static markup; its lines take their platform colours from PLATFORMS like
// every rendered line (there is no per-platform CSS rule).
for (const line of document.querySelectorAll('.preview .msg[data-platform]')) {
  setPlatform(line, line.dataset.platform);
}

async function main() {
  let user = null;
  try {
    user = await currentUser();
  } catch {
    // The gateway is unreachable: the page still reads fine as a guest.
  }
  showAccount(user);
  if (user) {
    document.getElementById('cta').href = '/dashboard';
    document.getElementById('cta-secondary').hidden = true;
  }
}

main();
