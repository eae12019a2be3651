// SPDX-License-Identifier: Apache-2.0
/* The floor under bench/agent_idle.sh: the smallest program that waits in a
 * Consul blocking query through Debian's libcurl, as the consul-http trigger
 * does. Its resident memory is what linking libcurl (and the ~30 libraries
 * Debian builds it with: OpenSSL, GnuTLS via librtmp, Kerberos, LDAP, ...)
 * costs any process before it does anything of its own.
 * Usage: libcurl_floor URL   (blocks until the query returns) */
#include <curl/curl.h>
#include <stdio.h>

static size_t discard(char *data, size_t size, size_t n, void *user) {
  (void)data, (void)user;
  return size * n;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, argv[1]);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  return rc == CURLE_OK ? 0 : 1;
}
