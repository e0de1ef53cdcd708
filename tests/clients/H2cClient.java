// SPDX-License-Identifier: ISC
// The JDK's own HTTP client as a JVM bot uses it: java.net.http.HttpClient
// with its defaults (version HTTP_2, so every plain-http request offers
// "Upgrade: h2c" with HTTP2-Settings). For t_h2c.py:
//   java H2cClient BASE
// calls BASE/getMe, BASE/sendMessage (POST, JSON), BASE/getMe again on
// one client and prints "NAME STATUS VERSION BODY" per call.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class H2cClient {
	static HttpRequest.Builder req(String url) {
		return HttpRequest.newBuilder(URI.create(url))
		    .timeout(Duration.ofSeconds(60));
	}

	static void show(String name, HttpResponse<String> r) {
		System.out.println(name + " " + r.statusCode() + " " +
		    r.version() + " " + r.body().replace('\n', ' '));
	}

	public static void main(String[] args) throws Exception {
		String base = args[0];
		HttpClient c = HttpClient.newBuilder()
		    .connectTimeout(Duration.ofSeconds(30)).build();
		HttpResponse.BodyHandler<String> h =
		    HttpResponse.BodyHandlers.ofString();

		show("getMe", c.send(req(base + "/getMe").GET().build(), h));
		show("sendMessage", c.send(req(base + "/sendMessage")
		    .header("Content-Type", "application/json")
		    .POST(HttpRequest.BodyPublishers.ofString(
		    "{\"chat_id\":5,\"text\":\"from the JDK client\"}"))
		    .build(), h));
		show("getMe2", c.send(req(base + "/getMe").GET().build(), h));
	}
}
