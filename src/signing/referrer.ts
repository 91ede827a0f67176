// What a Request built from another loses unless its init names it again.

/**
 * The referrer and referrer policy of `request`, as init members of a
 * Request built from it: given any init member, the Request constructor
 * resets both (Fetch, `new Request`, step 14), and the copy would send the
 * Referer its caller turned off or set. Empty when they are the defaults.
 */
export function referrerOf(request: Request): RequestInit {
  const init: RequestInit = {};
  if (request.referrer !== "about:client") init.referrer = request.referrer;
  if (request.referrerPolicy !== "") init.referrerPolicy = request.referrerPolicy;
  return init;
}
