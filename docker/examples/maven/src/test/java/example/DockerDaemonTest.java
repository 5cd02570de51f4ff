package example;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.Test;

/**
 * What a Testcontainers test needs from a Docker-in-Docker image: when `mvn test` starts, the
 * Docker daemon already answers on its socket. dind-init runs the command (here `mvn test`) only
 * after dockerd answered GET /_ping, and exports DOCKER_HOST=unix:///var/run/docker.sock.
 *
 * The daemon is spoken to directly over the unix socket (Java 16+), so the project needs nothing
 * but JUnit and works offline.
 */
public class DockerDaemonTest {

    /** The socket from DOCKER_HOST (unix://PATH), else Docker's default. */
    static Path socket() {
        String host = System.getenv("DOCKER_HOST");
        if (host != null && host.startsWith("unix://")) {
            return Paths.get(host.substring("unix://".length()));
        }
        return Paths.get("/var/run/docker.sock");
    }

    static final class Response {
        final int status;
        final byte[] body;

        Response(int status, byte[] body) {
            this.status = status;
            this.body = body;
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** One HTTP/1.0 request over the unix socket; the daemon closes the connection after it. */
    static Response request(String method, String path, String contentType, byte[] body)
            throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket()));
            StringBuilder head = new StringBuilder();
            head.append(method).append(' ').append(path).append(" HTTP/1.0\r\n");
            head.append("Host: docker\r\n");
            if (body != null) {
                head.append("Content-Type: ").append(contentType).append("\r\n");
                head.append("Content-Length: ").append(body.length).append("\r\n");
            }
            head.append("\r\n");
            writeAll(ch, head.toString().getBytes(StandardCharsets.US_ASCII));
            if (body != null) {
                writeAll(ch, body);
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            while (ch.read(buf) >= 0) {
                buf.flip();
                out.write(buf.array(), 0, buf.limit());
                buf.clear();
            }
            byte[] raw = out.toByteArray();
            int split = indexOf(raw, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertTrue("no HTTP header end in the daemon's answer to " + method + " " + path,
                    split >= 0);
            String header = new String(raw, 0, split, StandardCharsets.US_ASCII);
            String statusLine = header.split("\r\n", 2)[0];
            int status = Integer.parseInt(statusLine.split(" ")[1]);
            byte[] rest = new byte[raw.length - split - 4];
            System.arraycopy(raw, split + 4, rest, 0, rest.length);
            return new Response(status, rest);
        }
    }

    static void writeAll(SocketChannel ch, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data);
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static String json(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?[0-9]+)")
                .matcher(json);
        if (!m.find()) {
            return null;
        }
        return m.group(2) != null ? m.group(2) : m.group(1);
    }

    @Test
    public void dockerHostIsExported() {
        String host = System.getenv("DOCKER_HOST");
        System.out.println("DOCKER_HOST=" + host + " TESTCONTAINERS_HOST_OVERRIDE="
                + System.getenv("TESTCONTAINERS_HOST_OVERRIDE"));
        assertTrue("dind-init exports DOCKER_HOST to the command", host != null && !host.isEmpty());
    }

    @Test
    public void socketExists() throws IOException {
        Path sock = socket();
        assertTrue(sock + " exists", Files.exists(sock));
        int mode = (Integer) Files.getAttribute(sock, "unix:mode");
        assertEquals(sock + " is a unix socket", 0140000, mode & 0170000);
    }

    @Test
    public void pingAnswers() throws IOException {
        Response r = request("GET", "/_ping", null, null);
        assertEquals("GET /_ping status", 200, r.status);
        assertEquals("GET /_ping body", "OK", r.text().trim());
        System.out.println("GET /_ping on " + socket() + ": " + r.status + " " + r.text().trim());
    }

    @Test
    public void versionAnswers() throws IOException {
        Response r = request("GET", "/version", null, null);
        assertEquals("GET /version status", 200, r.status);
        String version = field(r.text(), "Version");
        String api = field(r.text(), "ApiVersion");
        System.out.println("Docker daemon " + version + ", API " + api);
        assertTrue("a version in " + r.text(), version != null);
    }

    /**
     * What Testcontainers' GenericContainer does, by hand: create, start, wait for, read the logs
     * of and remove a container. Needs an image the inner daemon can use without a registry: an
     * image tarball (docker save) at $INNER_IMAGE_TAR (default /images/inner.tar) is loaded first.
     * Skipped when there is no such tarball.
     */
    @Test
    public void runsAContainer() throws IOException {
        String tarEnv = System.getenv("INNER_IMAGE_TAR");
        Path tar = Paths.get(tarEnv != null && !tarEnv.isEmpty() ? tarEnv : "/images/inner.tar");
        assumeTrue("no image tarball at " + tar + " (set INNER_IMAGE_TAR)", Files.isRegularFile(tar));

        Response load = request("POST", "/images/load?quiet=1", "application/x-tar",
                Files.readAllBytes(tar));
        assertEquals("POST /images/load: " + load.text(), 200, load.status);
        Matcher loaded = Pattern.compile("Loaded image(?: ID)?: ([^\\\\\"]+)").matcher(load.text());
        assertTrue("an image name in " + load.text(), loaded.find());
        String image = loaded.group(1).trim();

        String cmd = System.getenv("INNER_CMD");
        String[] argv = (cmd != null && !cmd.isEmpty() ? cmd : "echo hello from an inner container")
                .split(" ");
        StringBuilder cmdJson = new StringBuilder("[");
        for (int i = 0; i < argv.length; i++) {
            cmdJson.append(i > 0 ? "," : "").append(json(argv[i]));
        }
        cmdJson.append("]");
        String spec = "{\"Image\":" + json(image) + ",\"Cmd\":" + cmdJson + "}";
        Response create = request("POST", "/containers/create", "application/json",
                spec.getBytes(StandardCharsets.UTF_8));
        assertEquals("POST /containers/create: " + create.text(), 201, create.status);
        String id = field(create.text(), "Id");
        try {
            Response start = request("POST", "/containers/" + id + "/start", "application/json",
                    new byte[0]);
            assertEquals("start: " + start.text(), 204, start.status);
            Response wait = request("POST", "/containers/" + id + "/wait", "application/json",
                    new byte[0]);
            assertEquals("wait: " + wait.text(), 200, wait.status);
            assertEquals("exit status of " + String.join(" ", argv), "0",
                    field(wait.text(), "StatusCode"));
            Response logs = request("GET", "/containers/" + id + "/logs?stdout=1&stderr=1", null,
                    null);
            assertEquals(200, logs.status);
            String out = demux(logs.body);
            System.out.println("inner container " + image + " said: " + out.trim());
            assertTrue("the container's output: " + out,
                    out.contains(argv[argv.length - 1]));
        } finally {
            request("DELETE", "/containers/" + id + "?force=1", null, null);
        }
    }

    /** Docker's multiplexed log stream: 8-byte frame headers (stream, 0, 0, 0, size BE32). */
    static String demux(byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        while (i + 8 <= b.length && b[i] <= 2 && b[i + 1] == 0) {
            int n = ((b[i + 4] & 0xff) << 24) | ((b[i + 5] & 0xff) << 16)
                    | ((b[i + 6] & 0xff) << 8) | (b[i + 7] & 0xff);
            out.write(b, i + 8, Math.min(n, b.length - i - 8));
            i += 8 + n;
        }
        return i == 0 ? new String(b, StandardCharsets.UTF_8)
                : new String(out.toByteArray(), StandardCharsets.UTF_8);
    }
}
