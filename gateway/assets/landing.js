// Landing page: "Start streaming" leads to registration, or straight to the dashboard when logged in.

import { currentUser } from './api.js';
import { showAccount } from './topbar.js';

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
