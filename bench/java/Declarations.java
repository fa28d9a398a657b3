// Declarations of Java files from the compiler's own parser (javac's Tree API), for
// bench/chunk_accuracy.py. Compiled at run time into the work folder; usage:
//   java -cp DIR Declarations ROOT REL...   -> one JSON line per file:
//   {"path": REL, "symbols": [{name, kind, parent, line, end_line, local}]}
// Lines are 1-based; a declaration starts at its modifiers (annotations included, Javadoc not).
// kind: class | interface | enum | record | annotation | method (constructors too, named after
// the class) | signature (a method without a body) | field. `local` marks declarations inside a
// method body or an anonymous class.
import com.sun.source.tree.*;
import com.sun.source.util.*;
import javax.tools.*;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class Declarations {
    static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        StandardJavaFileManager fm = javac.getStandardFileManager(null, null, StandardCharsets.UTF_8);
        String root = args[0];
        for (int i = 1; i < args.length; i++) {
            String rel = args[i];
            List<String> out = new ArrayList<>();
            try {
                JavacTask task = (JavacTask) javac.getTask(null, fm, d -> {}, List.of("-proc:none"), null,
                        fm.getJavaFileObjects(new File(root, rel)));
                SourcePositions pos = Trees.instance(task).getSourcePositions();
                for (CompilationUnitTree cu : task.parse()) {
                    LineMap lines = cu.getLineMap();
                    new TreePathScanner<Void, Void>() {
                        final Deque<String> scope = new ArrayDeque<>();
                        int bodies = 0;

                        void add(Tree t, String name, String kind) {
                            long s = pos.getStartPosition(cu, t), e = pos.getEndPosition(cu, t);
                            if (s < 0 || e < 0) return;
                            out.add(String.format("{\"name\":\"%s\",\"kind\":\"%s\",\"parent\":%s,\"line\":%d,\"end_line\":%d,\"local\":%b}",
                                    esc(name), kind, scope.isEmpty() ? "null" : "\"" + esc(String.join(".", scope)) + "\"",
                                    lines.getLineNumber(s), lines.getLineNumber(Math.max(s, e - 1)), bodies > 0));
                        }

                        @Override
                        public Void visitClass(ClassTree t, Void v) {
                            String name = t.getSimpleName().toString();
                            if (name.isEmpty()) {  // an anonymous class: its members are local
                                bodies++;
                                super.visitClass(t, v);
                                bodies--;
                                return null;
                            }
                            add(t, name, t.getKind().name().toLowerCase(Locale.ROOT).replace("annotation_type", "annotation"));
                            scope.addLast(name);
                            super.visitClass(t, v);
                            scope.removeLast();
                            return null;
                        }

                        @Override
                        public Void visitMethod(MethodTree t, Void v) {
                            String name = t.getName().toString();
                            if (name.equals("<init>")) name = scope.isEmpty() ? name : scope.getLast();
                            add(t, name, t.getBody() == null ? "signature" : "method");
                            bodies++;
                            super.visitMethod(t, v);
                            bodies--;
                            return null;
                        }

                        @Override
                        public Void visitVariable(VariableTree t, Void v) {
                            if (bodies == 0 && getCurrentPath().getParentPath().getLeaf() instanceof ClassTree) {
                                add(t, t.getName().toString(), "field");
                            }
                            return super.visitVariable(t, v);
                        }
                    }.scan(cu, null);
                }
            } catch (Exception | Error err) {
                System.err.println("Declarations: " + rel + ": " + err);
            }
            System.out.println("{\"path\":\"" + esc(rel) + "\",\"symbols\":[" + String.join(",", out) + "]}");
        }
    }
}
